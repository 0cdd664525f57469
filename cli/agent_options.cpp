// SPDX-License-Identifier: MIT
#include "cli/agent_options.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>

namespace haserf::cli {

const char* const kAgentOptionsHelp =
    "  -b, --bind IP:PORT     gossip address, UDP and TCP (default: the local address that\n"
    "                         reaches the first --join, any free port)\n"
    "      --advertise IP[:PORT]  address announced to peers (needed with a 0.0.0.0 bind)\n"
    "  -j, --join IP[:PORT]   a member to join (port 7946 by default; repeatable)\n"
    "  -n, --node NAME        node name (default: host name)\n"
    "      --tag KEY=VALUE    a tag of this node (repeatable)\n"
    "      --encrypt KEY      base64 gossip key, as given to 'serf agent -encrypt'\n"
    "      --keyring-file PATH  serf's keyring file (JSON array of base64 keys, primary\n"
    "                         first): read at start, rewritten when 'serf keys' changes keys\n"
    "      --profile NAME     memberlist timings: lan (default), wan or local\n";

std::vector<OptionSpec> agent_option_specs() {
  return {{"bind", 'b', true, false},       {"advertise", 0, true, false},
          {"join", 'j', true, true},        {"node", 'n', true, false},
          {"tag", 0, true, true},           {"encrypt", 0, true, false},
          {"keyring-file", 0, true, false}, {"profile", 0, true, false}};
}

namespace {

// The local IP the kernel would use to reach `ip` (a connected UDP socket sends nothing).
std::string local_ip_towards(const swim::Address& to) {
  const bool v6 = to.ip.size() == 16;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return "";
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(to.port);
    std::memcpy(&in6->sin6_addr, to.ip.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(to.port);
    std::memcpy(&in->sin_addr, to.ip.data(), 4);
    len = sizeof(sockaddr_in);
  }
  std::string result;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src =
          v6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
             : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      if (inet_ntop(v6 ? AF_INET6 : AF_INET, src, buf, sizeof buf)) result = buf;
    }
  }
  ::close(fd);
  // On loopback the kernel answers 127.0.0.1 for any 127.x target: bind next to the seed
  // instead, so a test on 127.0.0.42 stays on 127.0.0.42.
  if (!v6 && !result.empty() && to.ip[0] == 127) result = swim::ip_to_string(to.ip);
  return v6 && !result.empty() ? "[" + result + "]" : result;
}

}  // namespace

int parse_member_command(const char* cmd, const char* help, int argc, char** argv,
                         const std::vector<OptionSpec>& extra, Args& args) {
  auto specs = agent_option_specs();
  specs.insert(specs.end(), extra.begin(), extra.end());
  std::string error;
  if (!args.parse(argc, argv, 2, specs, error)) {
    std::fprintf(stderr, "haserf %s: %s (see 'haserf %s --help')\n", cmd, error.c_str(), cmd);
    return kExitUsage;
  }
  // HASERF_MEMBERS_JOIN, not HASERF_JOIN: the glue's HASERF_* knobs live in HAProxy's (and
  // its container's) environment, and must not turn `haserf members` there into a
  // short-lived member. --rpc-addr given on the command line outranks a --join from there.
  std::string prefix = "HASERF_";
  for (const char* c = cmd; *c; ++c) prefix += static_cast<char>(std::toupper(*c));
  prefix += '_';
  if (args.help()) {
    const bool rpc = std::any_of(extra.begin(), extra.end(),
                                 [](const OptionSpec& o) { return o.long_name == "rpc-addr"; });
    std::printf("%s%s%s%s", help, rpc ? kRpcOptionsHelp : "", kAgentOptionsHelp,
                env_help(prefix, prefix + "JOIN").c_str());
    return kExitOk;
  }
  if (!args.add_environment(prefix, specs, {{"join", "rpc-addr", "rpc-auth"}}, std::getenv,
                            error)) {
    std::fprintf(stderr, "haserf %s: %s\n", cmd, error.c_str());
    return kExitUsage;
  }
  return -1;
}

bool agent_config_from_args(const Args& args, net::AgentConfig& config, std::string& error) {
  if (auto v = args.get("node")) config.node_name = *v;
  if (auto v = args.get("advertise")) config.advertise = *v;
  if (auto v = args.get("encrypt")) config.encrypt_key = *v;
  if (auto v = args.get("keyring-file")) config.keyring_file = *v;
  if (auto v = args.get("profile")) config.profile = *v;
  for (const auto& kv : args.all("tag")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "--tag '" + kv + "' must look like KEY=VALUE";
      return false;
    }
    config.tags[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (auto v = args.get("bind")) {
    config.bind = *v;
    return true;
  }
  const auto joins = args.all("join");
  if (joins.empty()) {
    config.bind = "0.0.0.0:7946";
    return true;
  }
  swim::Address seed;
  if (!swim::parse_address(joins.front(), 7946, seed, &error)) {
    error = "--join: " + error;
    return false;
  }
  const std::string ip = local_ip_towards(seed);
  if (ip.empty()) {
    error = "no local address reaches " + joins.front() + ": give --bind";
    return false;
  }
  config.bind = ip + ":0";
  return true;
}

std::unique_ptr<net::Agent> start_transient_member(const char* cmd, const Args& args,
                                                   table::MembershipTable& table,
                                                   std::chrono::seconds join_timeout,
                                                   int& exit_code,
                                                   std::vector<std::string> extra_keys) {
  std::string error;
  net::AgentConfig config;
  if (!agent_config_from_args(args, config, error)) {
    std::fprintf(stderr, "haserf %s: %s\n", cmd, error.c_str());
    exit_code = kExitUsage;
    return nullptr;
  }
  if (config.node_name.empty()) {
    config.node_name = net::default_node_name() + "-" + cmd + "-" + std::to_string(::getpid());
  }
  config.persist_keyring = false;  // --keyring-file is read only: it may be an agent's
  config.extra_keys = std::move(extra_keys);
  if (!net::check_config(config, &error)) {  // bad addresses, keys, tags: usage errors
    std::fprintf(stderr, "haserf %s: %s\n", cmd, error.c_str());
    exit_code = kExitUsage;
    return nullptr;
  }
  auto agent = std::make_unique<net::Agent>(config, table);
  if (!agent->start(&error)) {
    std::fprintf(stderr, "haserf %s: %s\n", cmd, error.c_str());
    exit_code = kExitFailure;
    return nullptr;
  }
  const auto seeds = args.all("join");
  if (agent->join_sync(seeds, join_timeout, &error) == 0) {
    agent->stop();
    std::fprintf(stderr, "haserf %s: cannot join %s: %s\n", cmd,
                 seeds.empty() ? "(no --join)" : seeds.front().c_str(), error.c_str());
    exit_code = kExitFailure;
    return nullptr;
  }
  return agent;
}

bool query_and_wait(net::Agent& agent, const std::string& name, const std::string& payload,
                    const serf::QueryParams& params, serf::QueryCallbacks callbacks,
                    std::string& error, std::function<void()> on_sent) {
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false, sent = false;
    std::string error;
  };
  auto st = std::make_shared<State>();
  callbacks.done = [st](int, int) {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->done = true;
    st->cv.notify_all();
  };
  agent.query(name, payload, params, std::move(callbacks),
              [st, on_sent = std::move(on_sent)](bool ok, const std::string& err) {
                if (ok && on_sent) on_sent();
                std::lock_guard<std::mutex> lock(st->mutex);
                st->sent = ok;
                if (!ok) {
                  st->error = err;
                  st->done = true;
                  st->cv.notify_all();
                }
              });
  std::unique_lock<std::mutex> lock(st->mutex);
  const auto bound =
      (params.timeout.count() > 0 ? params.timeout : std::chrono::milliseconds(60000)) +
      std::chrono::seconds(10);
  st->cv.wait_for(lock, bound, [&] { return st->done; });
  if (!st->sent) error = st->error.empty() ? "no answer from the member" : st->error;
  return st->sent;
}

std::vector<OptionSpec> rpc_option_specs() {
  // Their variables are serf's habit, read by rpc_connect: HASERF_RPC_ADDR/SERF_RPC_ADDR.
  return {{"rpc-addr", 0, true, false, ""}, {"rpc-auth", 0, true, false, ""}};
}

const char* const kRpcOptionsHelp =
    "\n"
    "Without --join, asks the local agent over serf's RPC protocol (haserf agent or serf agent):\n"
    "      --rpc-addr IP:PORT the agent's RPC address (default $HASERF_RPC_ADDR, else\n"
    "                         $SERF_RPC_ADDR, else 127.0.0.1:7373)\n"
    "      --rpc-auth KEY     the agent's RPC auth key (default $HASERF_RPC_AUTH or\n"
    "                         $SERF_RPC_AUTH)\n"
    "With --join, joins the cluster as a short-lived member instead (every member then sees a\n"
    "join and a leave).\n";

bool rpc_connect(const char* cmd, const Args& args, rpc::Client& client,
                 std::chrono::milliseconds timeout) {
  const std::string addr = args.get("rpc-addr").value_or(rpc::default_rpc_addr());
  std::string auth;
  if (auto v = args.get("rpc-auth")) {
    auth = *v;
  } else {
    for (const char* var : {"HASERF_RPC_AUTH", "SERF_RPC_AUTH"}) {
      if (const char* e = std::getenv(var); e && *e) {
        auth = e;
        break;
      }
    }
  }
  std::string error;
  if (!client.connect(addr, auth, timeout, &error)) {
    std::fprintf(stderr, "haserf %s: %s (is an agent running with --rpc-addr %s? or give --join)\n",
                 cmd, error.c_str(), addr.c_str());
    return false;
  }
  return true;
}

table::Member member_from_rpc(const wire::rpc::RpcMember& m) {
  table::Member t;
  t.name = m.name;
  if (m.addr.size() == 4 || m.addr.size() == 16) {
    char buf[INET6_ADDRSTRLEN] = "";
    ::inet_ntop(m.addr.size() == 4 ? AF_INET : AF_INET6, m.addr.data(), buf, sizeof(buf));
    t.addr = buf;
  }
  t.port = m.port;
  for (const auto& [k, v] : m.tags) t.tags[k] = v;
  using S = table::MemberStatus;
  t.status = m.status == "alive"     ? S::kAlive
             : m.status == "leaving" ? S::kLeaving
             : m.status == "left"    ? S::kLeft
             : m.status == "failed"  ? S::kFailed
                                     : S::kNone;
  t.memberlist_protocol = table::ProtocolVersions{m.vsn[0], m.vsn[1], m.vsn[2]};
  t.protocol = table::ProtocolVersions{m.vsn[3], m.vsn[4], m.vsn[5]};
  return t;
}

}  // namespace haserf::cli
