// SPDX-License-Identifier: MIT
// Sends one of the datagrams that crash or poison serf 0.9.4 / memberlist 0.2.2 (docs/go-traps.md)
// to IP:PORT, unencrypted, from an ephemeral port. For tests/integration/interop_traps.sh only.
//   trap_sender list              names of every trap
//   trap_sender IP:PORT NAME...   sends each named trap once (or "all")
//   trap_sender IP:PORT event NAME PAYLOAD LTIME   a harmless user event (the control)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "core/wire/wire.hpp"

using namespace haserf;
using wire::Bytes;

namespace {

Bytes raw(std::initializer_list<int> b) {
  Bytes out;
  for (int x : b) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}

Bytes datagram(const Bytes& message) {
  return wire::wrap_datagram({message}, wire::WrapOptions{});
}

Bytes serf(wire::SerfMsgType type, const auto& m) {
  return datagram(wire::user_message(wire::serf_message(type, m)));
}

wire::SerfQuery query(const std::string& name, std::uint32_t id) {
  wire::SerfQuery q;
  q.LTime = 2;
  q.ID = id;
  q.Addr = {127, 0, 0, 1};
  q.Port = 9;  // discard: nobody needs the ack
  q.SourceNode = "trap";
  q.Flags = 0;
  q.Timeout = 2000000000;
  q.Name = name;
  return q;
}

wire::Bytes alive(const std::string& node, Bytes vsn, std::uint32_t inc = 1,
                  std::uint16_t port = 7946) {
  wire::Alive a{inc, node, {127, 0, 0, 250}, port, std::nullopt, std::move(vsn)};
  return datagram(wire::message(wire::MsgType::kAlive, a));
}

const std::map<std::string, std::function<Bytes()>>& traps() {
  static const std::map<std::string, std::function<Bytes()>> t = {
      {"query-empty-filter",
       [] {
         auto q = query("trap-filter", 0x7001);
         q.Filters = {Bytes{}};
         return serf(wire::SerfMsgType::kQuery, q);
       }},
      {"install-key-empty",
       [] { return serf(wire::SerfMsgType::kQuery, query("_serf_install-key", 0x7002)); }},
      {"use-key-empty",
       [] { return serf(wire::SerfMsgType::kQuery, query("_serf_use-key", 0x7003)); }},
      {"remove-key-empty",
       [] {
         auto q = query("_serf_remove-key", 0x7004);
         q.Payload = Bytes{};
         return serf(wire::SerfMsgType::kQuery, q);
       }},
      {"use-key-bloated",
       [] {
         auto q = query("_serf_use-key", 0x7005);
         q.Payload = raw({0x07, 0xdd, 0xff, 0xff, 0xff, 0xff});
         return serf(wire::SerfMsgType::kQuery, q);
       }},
      {"alive-short-vsn",
       [] {
         return alive("trap-vsn3", {1, 5, 2});
       }},
      {"alive-no-vsn", [] { return alive("trap-novsn", {}); }},
      {"alive-narrow-vsn",
       [] {
         return alive("trap-narrow", {3, 5, 3, 2, 5, 5});
       }},
      {"alive-port-zero", [] { return alive("trap-port0", wire::kOurVsn, 1, 0); }},
      {"alive-newline", [] { return alive("trap\nnewline", wire::kOurVsn); }},
      {"suspect-max-incarnation",
       [] {  // about s1, the first serf agent of the test
         wire::Suspect s{0xffffffffu, "s1", "trap"};
         return datagram(wire::message(wire::MsgType::kSuspect, s));
       }},
      {"join-max-ltime",
       [] {
         return serf(wire::SerfMsgType::kJoin, wire::SerfJoin{~std::uint64_t{0}, "s2"});
       }},
      {"event-max-ltime",
       [] {
         return serf(wire::SerfMsgType::kUserEvent,
                     wire::SerfUserEvent{~std::uint64_t{0} - 1, "trap-ltime", {}, false});
       }},
      {"event-newline",
       [] {
         return serf(wire::SerfMsgType::kUserEvent,
                     wire::SerfUserEvent{3, "trap\nnewline", {}, false});
       }},
      {"event-bloated-key",  // a valid event plus an unknown key claiming 4 billion entries
       [] {
         Bytes body = wire::encode(wire::SerfUserEvent{4, "trap-bloat", {}, false});
         body[0] = static_cast<std::uint8_t>(body[0] + 1);  // one more map entry
         for (int b : {0xa2, 0x5a, 0x7a, 0xdd, 0xff, 0xff, 0xff, 0xff})
           body.push_back(static_cast<std::uint8_t>(b));
         Bytes msg{static_cast<std::uint8_t>(wire::SerfMsgType::kUserEvent)};
         msg.insert(msg.end(), body.begin(), body.end());
         return datagram(wire::user_message(msg));
       }},
      {"compound-empty-part",
       [] {
         return raw({0x07, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02});
       }},
      {"compound-128-parts",
       [] {
         Bytes b{0x07, 0x80};
         for (int i = 0; i < 128; ++i) {
           b.push_back(0);
           b.push_back(1);
         }
         for (int i = 0; i < 128; ++i) b.push_back(0x0b);
         return b;
       }},
  };
  return t;
}

bool send_to(const std::string& target, const Bytes& d) {
  const auto colon = target.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(target.c_str() + colon + 1)));
  if (colon == std::string::npos ||
      inet_pton(AF_INET, target.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "trap_sender: bad address %s\n", target.c_str());
    return false;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const bool ok = fd >= 0 && ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&sa),
                                      sizeof sa) == static_cast<ssize_t>(d.size());
  if (fd >= 0) ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "list") == 0) {
    for (const auto& [name, make] : traps()) std::printf("%s\n", name.c_str());
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: trap_sender list | IP:PORT NAME... | IP:PORT event NAME PAYLOAD LTIME\n");
    return 2;
  }
  const std::string target = argv[1];
  if (std::strcmp(argv[2], "event") == 0 && argc == 6) {
    const std::string payload = argv[4];
    wire::SerfUserEvent e{std::strtoull(argv[5], nullptr, 10), argv[3],
                          Bytes(payload.begin(), payload.end()), false};
    return send_to(target, serf(wire::SerfMsgType::kUserEvent, e)) ? 0 : 1;
  }
  int rc = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string name = argv[i];
    for (const auto& [trap, make] : traps()) {
      if (name != "all" && name != trap) continue;
      if (!send_to(target, make())) rc = 1;
    }
    if (name != "all" && !traps().count(name)) {
      std::fprintf(stderr, "trap_sender: unknown trap %s\n", name.c_str());
      rc = 2;
    }
  }
  return rc;
}
