// SPDX-License-Identifier: MIT
// Hostile load against a gossip port, for tests/integration/agent_flood.sh (docs/security.md
// "Floods and stalls"). Loopback only: the target and the source must be in 127.0.0.0/8.
//   flood_sender udp TARGET_IP:PORT SOURCE_IP SECONDS
//       junk datagrams (1-1400 bytes, random, some starting with memberlist's message types)
//       as fast as one thread can send them (sendmmsg, 64 per call)
//   flood_sender stall TARGET_IP:PORT SOURCE_IP SECONDS COUNT
//       keeps COUNT TCP connections open that sent one byte of a stream and then nothing
//       (slowloris); a connection the target closes is opened again at once
//   flood_sender connect TARGET_IP:PORT SOURCE_IP SECONDS
//       connects and resets (SO_LINGER 0: no TIME_WAIT) as fast as it can
// Prints one line of counts on stdout ("sent N", "opened N closed_by_peer N", "connections N")
// and exits 0; exits 2 on a usage error or a non-loopback address.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

bool parse_ip(const std::string& s, sockaddr_in& out) {
  std::memset(&out, 0, sizeof out);
  out.sin_family = AF_INET;
  if (inet_pton(AF_INET, s.c_str(), &out.sin_addr) != 1) return false;
  return (ntohl(out.sin_addr.s_addr) >> 24) == 127;  // loopback only
}

bool parse_target(const std::string& s, sockaddr_in& out) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || !parse_ip(s.substr(0, colon), out)) return false;
  const long port = std::strtol(s.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) return false;
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  return true;
}

int bound_socket(int type, const sockaddr_in& source) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // connect() gives up after 2 s (Linux applies SO_SNDTIMEO to it) if the backlog is full.
  const timeval limit{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in src = source;
  src.sin_port = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int flood_udp(const sockaddr_in& target, const sockaddr_in& source, double seconds) {
  const int fd = bound_socket(SOCK_DGRAM, source);
  if (fd < 0) return std::perror("udp socket"), 1;
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  std::mt19937 rng(12345);
  // 64 different junk datagrams, sent round robin: the receiver's decoder sees garbage,
  // truncated messages and wrong types, never a valid message.
  constexpr int kBatch = 64;
  std::vector<std::vector<unsigned char>> junk(kBatch);
  for (auto& d : junk) {
    d.resize(1 + rng() % 1400);
    for (auto& b : d) b = static_cast<unsigned char>(rng());
    d[0] = static_cast<unsigned char>(rng() % 24);  // mostly memberlist's message types
  }
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {junk[i].data(), junk[i].size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(&target);
    msgs[i].msg_hdr.msg_namelen = sizeof target;
  }
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  unsigned long long sent = 0, errors = 0;
  while (Clock::now() < end) {
    const int n = ::sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) {
      sent += static_cast<unsigned long long>(n);
    } else {
      ++errors;  // ENOBUFS/ECONNREFUSED (the target was down): keep going
    }
  }
  ::close(fd);
  std::printf("sent %llu errors %llu\n", sent, errors);
  return 0;
}

int open_stalled(const sockaddr_in& target, const sockaddr_in& source) {
  const int fd = bound_socket(SOCK_STREAM, source);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
    ::close(fd);
    return -1;
  }
  // One byte: memberlist's pushPull message type, then nothing. The header never completes.
  const unsigned char first = 6;
  if (::write(fd, &first, 1) != 1) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

int flood_stall(const sockaddr_in& target, const sockaddr_in& source, double seconds, int count) {
  std::vector<pollfd> fds;
  unsigned long long opened = 0, closed_by_peer = 0, failed = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    while (static_cast<int>(fds.size()) < count && Clock::now() < end) {
      const int fd = open_stalled(target, source);
      if (fd < 0) {
        ++failed;
        ::usleep(10000);
        break;
      }
      ++opened;
      fds.push_back({fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (std::size_t i = 0; i < fds.size();) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[512];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0 && !(n < 0 && errno == EAGAIN)) {  // closed by the target
          ::close(fds[i].fd);
          ++closed_by_peer;
          fds[i] = fds.back();
          fds.pop_back();
          continue;
        }
      }
      ++i;
    }
  }
  for (auto& p : fds) ::close(p.fd);
  std::printf("opened %llu closed_by_peer %llu failed %llu\n", opened, closed_by_peer, failed);
  return 0;
}

int flood_connect(const sockaddr_in& target, const sockaddr_in& source, double seconds) {
  unsigned long long made = 0, failed = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  const linger reset{1, 0};
  while (Clock::now() < end) {
    const int fd = bound_socket(SOCK_STREAM, source);
    if (fd < 0) {
      ++failed;
      continue;
    }
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0) {
      ++made;
    } else {
      ++failed;
    }
    ::close(fd);
  }
  std::printf("connections %llu failed %llu\n", made, failed);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: flood_sender udp|stall|connect TARGET_IP:PORT SOURCE_IP SECONDS [COUNT]\n"
               "       (loopback addresses only)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return usage();
  const std::string mode = argv[1];
  sockaddr_in target{}, source{};
  if (!parse_target(argv[2], target) || !parse_ip(argv[3], source)) return usage();
  const double seconds = std::strtod(argv[4], nullptr);
  if (!(seconds > 0 && seconds <= 600)) return usage();
  if (mode == "udp") return flood_udp(target, source, seconds);
  if (mode == "connect") return flood_connect(target, source, seconds);
  if (mode == "stall" && argc >= 6) {
    const int count = std::atoi(argv[5]);
    if (count <= 0 || count > 20000) return usage();
    return flood_stall(target, source, seconds, count);
  }
  return usage();
}
