// SPDX-License-Identifier: MIT
// push_members: sends synthetic members to a Serf agent (haserf or the real serf) with one
// TCP push/pull (Join=true), built with haserf's own wire encoders, and measures what it costs
// the receiving agent. Benchmark tool only (bench/README.md); not part of `make test`.
//
// Node i is `PREFIX` + i (4 digits), at SUBNET.(1 + i % 250):(BASE_PORT + i % 20000), with
// 3-4 generated tags (role cycles web/db/cache/lb/worker) overridden or extended by --tags.
//
//   push_members push    --target IP:PORT [--count N] [common options]
//       One push/pull of N synthetic alive nodes; reads and summarises the reply.
//
//   push_members mem     --target IP:PORT --match STR [--count N] [--after S] [common] -- CMD...
//       Starts CMD (the agent) with its stdout piped to us, waits until it listens on
//       --target, lets it settle, reads VmRSS (baseline), pushes N nodes, waits until N lines
//       containing STR and a synthetic node name have arrived on the pipe (the agent's table
//       shows them), reads VmRSS again, waits S more seconds and reads it a third time.
//
//   push_members latency --target IP:PORT --match STR [--count N] [common] -- CMD...
//       Starts CMD likewise; then N times: connect, write a push/pull with one fresh node,
//       t0 = just before the single write() of the request (on loopback the bytes are in the
//       agent's socket buffer when it returns, a few microseconds later),
//       t1 = when the line with STR and that node name arrives on the pipe. Prints
//       min/median/p95/max of t1 - t0.
//
//   push_members churn   --target IP:PORT --count N [--rate R] [--duration S] [--via udp|tcp]
//                        [--incarnation-base B] [common options]
//       Membership changes at a steady rate, for an agent that already holds nodes 0..N-1
//       (pushed before with `push --count N` and the same --prefix/--subnet/--base-port/--tags):
//       R times a second (default 100) for S seconds (default 10), on an absolute schedule,
//       one update of ONE node, round robin: node k % N with incarnation B + 2 + k / N (above
//       the pushed 1) and the extra tag gen=<that incarnation>. A higher incarnation alone
//       changes nothing the table shows; the changed tag makes every send an update event
//       (memberlist's NotifyUpdate, haserf's member-update). A dead node comes back alive.
//         --via udp (default): one alive message in one datagram, as gossip carries a change
//           in a real cluster (an O(1) message for the receiver). Fire and forget: `failed`
//           counts send errors (the socket is connected, so a target nobody listens on shows
//           as ECONNREFUSED); the receiver's table version shows what it applied.
//         --via tcp: one push/pull (Join=false) carrying only that node, reply read and
//           checked; the receiver also encodes its whole state into the reply, an O(cluster)
//           cost per change that gossip does not have.
//       A second run against the same agent must pass B >= the previous last_incarnation - 1,
//       or its updates are older than what the agent holds and change nothing.
//
// Common options: --prefix P (node name prefix, default "node-"), --subnet A.B.C (addresses of
// synthetic nodes, default 127.0.2; nobody must listen there), --base-port N (default 20000),
// --settle S (seconds after the agent listens, default 2), --timeout S (per wait, default 30),
// --log FILE (copy of the agent's stdout), --stderr FILE (agent's stderr, default /dev/null),
// --interval-ms M (latency: pause between samples, default 100), --preload N (latency: first
// push N other members, pre-0000..., and wait for them), --compress (LZW the request),
// --tags k=v,k=v (set on every synthetic node, over the generated ones: e.g. role=web,port=80
// so that HAProxy's glue selects them).
//
// Output: `key=value` lines on stdout (easy to grep from bench scripts). Exit status 0 when
// every wait succeeded (churn: every change sent without error, none left behind schedule),
// 1 on a timeout or error, 2 on bad usage. The child is always stopped (SIGTERM, then SIGKILL
// after 12 s) and dies with us (PR_SET_PDEATHSIG) if we are killed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/wire/wire.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace haserf;

struct Options {
  std::string mode;
  std::string target;
  std::string match;
  std::string prefix = "node-";
  std::string subnet = "127.0.2";
  int count = -1;
  int base_port = 20000;
  double settle = 2.0;
  double timeout = 30.0;
  double after = 10.0;
  int interval_ms = 100;
  int preload = 0;
  bool compress = false;
  wire::Tags tags;  // --tags: over the generated ones, on every node
  double rate = 100;
  double duration = 10;
  std::string via = "udp";
  std::uint32_t incarnation_base = 0;
  std::string log_file;
  std::string stderr_file = "/dev/null";
  std::vector<std::string> cmd;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "push_members: %s\n"
               "usage: push_members push|mem|latency|churn --target IP:PORT [--count N]\n"
               "       [--match STR] [--prefix P] [--subnet A.B.C] [--base-port N]\n"
               "       [--tags k=v,..] [--settle S] [--after S] [--timeout S]\n"
               "       [--interval-ms M] [--preload N] [--compress] [--log FILE]\n"
               "       [--stderr FILE] [--rate R] [--duration S] [--via udp|tcp]\n"
               "       [--incarnation-base B]\n"
               "       [-- AGENT COMMAND...]   (see the header of bench/push_members.cpp)\n",
               why);
  std::exit(2);
}

// "k=v,k=v" into tags (later keys win); an item without '=' or with an empty key is a usage
// error.
void parse_tags(const std::string& text, wire::Tags& out) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) usage("--tags wants k=v,k=v");
    out[item.substr(0, eq)] = item.substr(eq + 1);
    start = end + 1;
  }
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("missing mode");
  o.mode = argv[1];
  if (o.mode != "push" && o.mode != "mem" && o.mode != "latency" && o.mode != "churn")
    usage("unknown mode");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--") {
      for (++i; i < argc; ++i) o.cmd.emplace_back(argv[i]);
    } else if (a == "--target") o.target = val();
    else if (a == "--match") o.match = val();
    else if (a == "--prefix") o.prefix = val();
    else if (a == "--subnet") o.subnet = val();
    else if (a == "--count") o.count = std::atoi(val().c_str());
    else if (a == "--base-port") o.base_port = std::atoi(val().c_str());
    else if (a == "--settle") o.settle = std::atof(val().c_str());
    else if (a == "--timeout") o.timeout = std::atof(val().c_str());
    else if (a == "--after") o.after = std::atof(val().c_str());
    else if (a == "--interval-ms") o.interval_ms = std::atoi(val().c_str());
    else if (a == "--preload") o.preload = std::atoi(val().c_str());
    else if (a == "--compress") o.compress = true;
    else if (a == "--log") o.log_file = val();
    else if (a == "--stderr") o.stderr_file = val();
    else if (a == "--tags") parse_tags(val(), o.tags);
    else if (a == "--rate") o.rate = std::atof(val().c_str());
    else if (a == "--duration") o.duration = std::atof(val().c_str());
    else if (a == "--via") o.via = val();
    else if (a == "--incarnation-base")
      o.incarnation_base = static_cast<std::uint32_t>(std::strtoul(val().c_str(), nullptr, 10));
    else usage(("unknown option " + a).c_str());
  }
  if (o.target.empty()) usage("--target is required");
  if (o.count < 0 && o.mode != "churn")
    o.count = o.mode == "mem" ? 1000 : (o.mode == "latency" ? 50 : 1);
  if ((o.mode == "mem" || o.mode == "latency") && (o.cmd.empty() || o.match.empty()))
    usage("mem and latency need --match and an agent command after --");
  if (o.mode == "churn") {
    // The count must be the one pushed: a node the agent does not know would be a join.
    if (o.count <= 0) usage("churn needs --count N, the number of nodes pushed before");
    if (!(o.rate > 0) || !(o.duration > 0)) usage("--rate and --duration must be positive");
    if (o.via != "udp" && o.via != "tcp") usage("--via is udp or tcp");
  }
  return o;
}

bool split_host_port(const std::string& hp, std::string& ip, std::uint16_t& port) {
  auto c = hp.rfind(':');
  if (c == std::string::npos) return false;
  ip = hp.substr(0, c);
  port = static_cast<std::uint16_t>(std::atoi(hp.c_str() + c + 1));
  in_addr a{};
  return port != 0 && inet_pton(AF_INET, ip.c_str(), &a) == 1;
}

// ---- the request ----

// Realistic tags: 3 on even nodes, 4 on odd ones (~45-60 bytes of Meta).
wire::Tags tags_for(int i) {
  static const char* roles[] = {"web", "db", "cache", "lb", "worker"};
  static const char* dcs[] = {"dc1", "dc2", "eu-west-1"};
  wire::Tags t{{"role", roles[i % 5]}, {"dc", dcs[i % 3]}, {"version", "1.4." + std::to_string(i % 17)}};
  if (i % 2) t["zone"] = "zone-" + std::string(1, static_cast<char>('a' + i % 4));
  return t;
}

std::string node_name(const std::string& prefix, int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", i);
  return prefix + buf;
}

// Node i as every mode announces it: address, port and tags are functions of i alone, so that
// a later update (churn) names the same node at the same address (another address would be a
// conflict, not an update).
struct Synthetic {
  wire::Bytes addr;
  std::uint16_t port = 0;
  wire::Bytes meta;
};

Synthetic synthetic(const Options& o, int i, const wire::Tags& extra = {}) {
  Synthetic s;
  in_addr a{};
  const std::string ip = o.subnet + "." + std::to_string(1 + i % 250);
  inet_pton(AF_INET, ip.c_str(), &a);
  const auto* p = reinterpret_cast<const std::uint8_t*>(&a.s_addr);
  s.addr.assign(p, p + 4);
  s.port = static_cast<std::uint16_t>(o.base_port + i % 20000);
  wire::Tags t = tags_for(i);
  for (const auto& [k, v] : o.tags) t[k] = v;
  for (const auto& [k, v] : extra) t[k] = v;
  s.meta = wire::encode_tags(t);
  return s;
}

// A push/pull stream carrying `names` (node first_index + k for names[k]), all alive with
// `incarnation` and `extra` tags.
wire::Bytes build_request(const Options& o, const std::vector<std::string>& names, int first_index,
                          bool join = true, std::uint32_t incarnation = 1,
                          const wire::Tags& extra = {}) {
  wire::PushPull pp;
  pp.Join = join;
  wire::SerfPushPull serf;
  serf.LTime = 1;
  serf.EventLTime = 1;
  serf.QueryLTime = 1;
  for (std::size_t k = 0; k < names.size(); ++k) {
    const int i = first_index + static_cast<int>(k);
    Synthetic s = synthetic(o, i, extra);
    wire::PushNodeState n;
    n.Name = names[k];
    n.Addr = std::move(s.addr);
    n.Port = s.port;
    n.Meta = std::move(s.meta);
    n.Incarnation = incarnation;
    n.State = wire::NodeState::kAlive;
    n.Vsn = wire::kOurVsn;  // 01 05 02 02 05 05
    pp.Nodes.push_back(std::move(n));
    serf.StatusLTimes[names[k]] = 1;
  }
  pp.UserState = wire::encode_serf_push_pull(serf);
  return wire::encode_stream(wire::encode_push_pull(pp), o.compress, nullptr);
}

int connect_to(const std::string& hp) {
  std::string ip;
  std::uint16_t port = 0;
  if (!split_host_port(hp, ip, port)) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const wire::Bytes& b) {
  std::size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::write(fd, b.data() + off, b.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads the reply push/pull (or errResp) until complete. Returns the node count, -1 on error.
long read_reply(int fd, double timeout_s, std::string* what) {
  wire::StreamReader reader;
  std::uint8_t buf[65536];
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) { *what = "timeout reading the reply"; return -1; }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { *what = "connection closed before a complete reply"; return -1; }
    reader.feed({buf, static_cast<std::size_t>(n)});
    auto st = reader.poll();
    if (st == wire::StreamStatus::kError) { *what = "bad reply: " + reader.error(); return -1; }
    if (st == wire::StreamStatus::kDone) {
      const auto& m = reader.message();
      if (m.type == wire::MsgType::kErr) { *what = "errResp: " + m.err.Error; return -1; }
      if (m.type != wire::MsgType::kPushPull) { *what = "unexpected reply type"; return -1; }
      *what = m.was_compressed ? "compressed" : "plain";
      return static_cast<long>(m.push_pull.Nodes.size());
    }
  }
}

// ---- the child agent and its stdout ----

struct Line {
  Clock::time_point t;
  std::string text;
};

class Child {
 public:
  bool start(const Options& o) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(p[1], 1);
      int e = open(o.stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (e >= 0) dup2(e, 2);
      std::vector<char*> argv;
      for (const auto& s : o.cmd) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    close(p[1]);
    fd_ = p[0];
    if (!o.log_file.empty()) log_.open(o.log_file);
    reader_ = std::thread([this] { read_loop(); });
    return true;
  }

  // Stops the child: SIGTERM, up to 12 s, SIGKILL. Returns its wait status description.
  std::string stop() {
    if (pid_ <= 0) return "not started";
    std::string how = "exited after SIGTERM";
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(12);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        how = "SIGKILL after 12 s";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();  // EOF once the child is gone
    if (fd_ >= 0) close(fd_);
    if (WIFSIGNALED(status)) how += " (signal " + std::to_string(WTERMSIG(status)) + ")";
    else how += " (status " + std::to_string(WEXITSTATUS(status)) + ")";
    return how;
  }

  bool alive() const {
    return pid_ > 0 && kill(pid_, 0) == 0 && !exited_.load();
  }
  pid_t pid() const { return pid_; }

  // Waits until `pred(line)` has been true for `n` lines received at or after index `from`.
  // Returns the arrival time of the n-th such line.
  template <typename Pred>
  std::optional<Clock::time_point> wait_lines(std::size_t from, std::size_t n, Pred pred,
                                              double timeout_s, std::size_t* seen = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    std::size_t idx = from, hits = 0;
    for (;;) {
      for (; idx < lines_.size(); ++idx) {
        if (pred(lines_[idx].text) && ++hits == n) {
          if (seen) *seen = hits;
          return lines_[idx].t;
        }
      }
      if (seen) *seen = hits;
      if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (Clock::now() >= deadline || eof_) return std::nullopt;
      }
    }
  }
  std::size_t line_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_.size();
  }
  template <typename Pred>
  std::size_t count_lines(Pred pred) {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<std::size_t>(std::count_if(lines_.begin(), lines_.end(),
                                                  [&](const Line& l) { return pred(l.text); }));
  }

 private:
  void read_loop() {
    std::string partial;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      const auto now = Clock::now();
      if (log_.is_open()) log_.write(buf, n), log_.flush();
      partial.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      std::lock_guard<std::mutex> lock(mu_);
      while ((nl = partial.find('\n', start)) != std::string::npos) {
        lines_.push_back({now, partial.substr(start, nl - start)});
        start = nl + 1;
      }
      partial.erase(0, start);
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    exited_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  std::ofstream log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Line> lines_;
  bool eof_ = false;
  std::atomic<bool> exited_{false};
};

// True once IP:PORT is in LISTEN state in /proc/net/tcp (no probe connection needed, so the
// agent's error counters and logs stay clean).
bool is_listening(const std::string& hp) {
  std::string ip;
  std::uint16_t port = 0;
  if (!split_host_port(hp, ip, port)) return false;
  in_addr a{};
  inet_pton(AF_INET, ip.c_str(), &a);
  char want[32];
  std::snprintf(want, sizeof want, "%08X:%04X", a.s_addr, port);  // /proc prints host order of the raw u32
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string sl, local, remote, st;
    is >> sl >> local >> remote >> st;
    if (local == want && st == "0A") return true;
  }
  return false;
}

struct Rss {
  long rss_kib = -1, anon_kib = -1, hwm_kib = -1;
};

Rss read_rss(pid_t pid) {
  Rss r;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string k;
  long v;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    is >> k >> v;
    if (k == "VmRSS:") r.rss_kib = v;
    else if (k == "RssAnon:") r.anon_kib = v;
    else if (k == "VmHWM:") r.hwm_kib = v;
  }
  return r;
}

void print_rss(const char* tag, const Rss& r) {
  std::printf("%s_rss_kib=%ld\n%s_anon_kib=%ld\n%s_hwm_kib=%ld\n", tag, r.rss_kib, tag, r.anon_kib,
              tag, r.hwm_kib);
}

// CPU seconds (user + system) the process has used: /proc/PID/stat fields 14 and 15.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream is(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && is >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double secs_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

bool wait_listening(const Options& o, Child& child) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.timeout);
  while (Clock::now() < deadline) {
    if (!child.alive()) return false;
    if (is_listening(o.target)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// Matches a name as a whole token: the character after it must not continue a name.
bool has_name(const std::string& line, const std::string& name) {
  for (std::size_t pos = line.find(name); pos != std::string::npos; pos = line.find(name, pos + 1)) {
    const std::size_t end = pos + name.size();
    if (end == line.size()) return true;
    const char c = line[end];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return true;
  }
  return false;
}

int mode_push(const Options& o) {
  std::vector<std::string> names;
  for (int i = 0; i < o.count; ++i) names.push_back(node_name(o.prefix, i));
  const auto req = build_request(o, names, 0);
  int fd = connect_to(o.target);
  if (fd < 0) { std::printf("error=connect %s failed\n", o.target.c_str()); return 1; }
  const auto t0 = Clock::now();
  if (!write_all(fd, req)) { std::printf("error=write failed\n"); close(fd); return 1; }
  std::string what;
  const long nodes = read_reply(fd, o.timeout, &what);
  const auto t1 = Clock::now();
  close(fd);
  std::printf("request_bytes=%zu\nreply_nodes=%ld\nreply=%s\nround_trip_ms=%.3f\n", req.size(), nodes,
              what.c_str(), secs_since(t0, t1) * 1e3);
  return nodes < 0 ? 1 : 0;
}

int mode_mem(const Options& o, Child& child) {
  if (!wait_listening(o, child)) { std::printf("error=agent not listening on %s\n", o.target.c_str()); return 1; }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  if (!child.alive()) { std::printf("error=agent exited\n"); return 1; }
  print_rss("base", read_rss(child.pid()));

  std::vector<std::string> names;
  for (int i = 0; i < o.count; ++i) names.push_back(node_name(o.prefix, i));
  const auto req = build_request(o, names, 0);
  std::printf("request_bytes=%zu\n", req.size());
  const std::size_t from = child.line_count();
  int fd = connect_to(o.target);
  if (fd < 0) { std::printf("error=connect failed\n"); return 1; }
  const auto t0 = Clock::now();
  if (!write_all(fd, req)) { std::printf("error=write failed\n"); close(fd); return 1; }
  std::string what;
  const long nodes = read_reply(fd, o.timeout, &what);
  close(fd);
  std::printf("reply_nodes=%ld\nreply=%s\n", nodes, what.c_str());
  std::size_t seen = 0;
  auto pred = [&](const std::string& l) { return contains(l, o.match) && contains(l, o.prefix); };
  auto t_all = child.wait_lines(from, static_cast<std::size_t>(o.count), pred, o.timeout, &seen);
  std::printf("joins_seen=%zu\n", seen);
  if (!t_all) { std::printf("error=only %zu of %d join lines within %.0f s\n", seen, o.count, o.timeout); return 1; }
  std::printf("all_joined_ms=%.1f\n", secs_since(t0, *t_all) * 1e3);
  print_rss("merged", read_rss(child.pid()));
  const double cpu0 = cpu_seconds(child.pid());
  std::this_thread::sleep_for(std::chrono::duration<double>(o.after));
  if (!child.alive()) { std::printf("error=agent exited during the wait\n"); return 1; }
  print_rss("after", read_rss(child.pid()));
  // The gossip work with COUNT members, most unreachable: probes, suspicions, re-gossip.
  std::printf("after_cpu_s=%.3f\n", cpu_seconds(child.pid()) - cpu0);
  std::printf("after_s=%.0f\n", o.after);
  std::printf("lines_total=%zu\n", child.line_count());
  return 0;
}

int mode_latency(const Options& o, Child& child) {
  if (!wait_listening(o, child)) { std::printf("error=agent not listening on %s\n", o.target.c_str()); return 1; }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  if (o.preload > 0) {
    // Fill the table first (names pre-0000..., one push/pull), so that the samples measure a
    // join into a table that already holds `preload` members.
    Options p = o;
    p.prefix = "pre-";
    std::vector<std::string> names;
    for (int i = 0; i < o.preload; ++i) names.push_back(node_name(p.prefix, i));
    const std::size_t from = child.line_count();
    int fd = connect_to(o.target);
    if (fd < 0 || !write_all(fd, build_request(p, names, 0))) { std::printf("error=preload failed\n"); return 1; }
    std::string what;
    read_reply(fd, o.timeout, &what);
    close(fd);
    std::size_t seen = 0;
    auto pred = [&](const std::string& l) { return contains(l, o.match) && contains(l, p.prefix); };
    if (!child.wait_lines(from, static_cast<std::size_t>(o.preload), pred, o.timeout, &seen)) {
      std::printf("error=preload: only %zu of %d join lines\n", seen, o.preload);
      return 1;
    }
    std::printf("preloaded=%d\n", o.preload);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  }
  std::vector<double> ms;
  int failures = 0;
  for (int i = 0; i < o.count; ++i) {
    const std::string name = node_name(o.prefix, i);
    const auto req = build_request(o, {name}, i);
    int fd = connect_to(o.target);
    if (fd < 0) { std::printf("error=connect failed at sample %d\n", i); return 1; }
    const std::size_t from = child.line_count();
    const auto t0 = Clock::now();
    if (!write_all(fd, req)) { std::printf("error=write failed\n"); close(fd); return 1; }
    auto t1 = child.wait_lines(
        from, 1, [&](const std::string& l) { return contains(l, o.match) && has_name(l, name); }, 5.0);
    std::string what;
    const long nodes = read_reply(fd, o.timeout, &what);
    close(fd);
    if (!t1 || nodes < 0) {
      ++failures;
      std::printf("sample_%d=failed (%s)\n", i, t1 ? what.c_str() : "no join line in 5 s");
      if (!child.alive()) return 1;
    } else {
      ms.push_back(std::max(0.0, secs_since(t0, *t1) * 1e3));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  if (ms.empty()) { std::printf("error=no successful sample\n"); return 1; }
  std::vector<double> s = ms;
  std::sort(s.begin(), s.end());
  auto pct = [&](double p) {
    const std::size_t k = static_cast<std::size_t>(std::min<double>(s.size() - 1, std::ceil(p * s.size()) - 1));
    return s[k];
  };
  double sum = 0;
  for (double v : s) sum += v;
  std::printf("samples=%zu\nfailures=%d\nmin_ms=%.3f\nmedian_ms=%.3f\np95_ms=%.3f\nmax_ms=%.3f\nmean_ms=%.3f\n",
              s.size(), failures, s.front(), s[(s.size() - 1) / 2], pct(0.95), s.back(), sum / s.size());
  std::printf("all_ms=");
  for (std::size_t k = 0; k < ms.size(); ++k) std::printf("%s%.3f", k ? "," : "", ms[k]);
  std::printf("\n");
  return failures ? 1 : 0;
}

// A UDP socket aimed at the target (connect(): no per-send address, and the kernel picks the
// source once). -1 on error.
int udp_to(const std::string& hp) {
  std::string ip;
  std::uint16_t port = 0;
  if (!split_host_port(hp, ip, port)) return -1;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One membership change: node i alive again with a higher incarnation and a changed tag.
// Returns an empty string when it was sent (tcp: and the reply was a push/pull), else why not.
std::string send_change(const Options& o, int udp_fd, int i, std::uint32_t incarnation) {
  const std::string name = node_name(o.prefix, i);
  const wire::Tags extra{{"gen", std::to_string(incarnation)}};
  if (o.via == "tcp") {
    int fd = connect_to(o.target);
    if (fd < 0) return "connect failed";
    const bool wrote = write_all(fd, build_request(o, {name}, i, false, incarnation, extra));
    std::string what;
    const long nodes = wrote ? read_reply(fd, o.timeout, &what) : -1;
    close(fd);
    if (!wrote) return "write failed";
    return nodes < 0 ? what : "";
  }
  Synthetic s = synthetic(o, i, extra);
  wire::Alive a;
  a.Incarnation = incarnation;
  a.Node = name;
  a.Addr = std::move(s.addr);
  a.Port = s.port;
  a.Meta = std::move(s.meta);
  a.Vsn = wire::kOurVsn;
  // With the CRC header, as memberlist sends to peers speaking protocol 5 (our Vsn says so).
  wire::WrapOptions wrap;
  wrap.crc = true;
  const wire::Bytes packet = wire::wrap_datagram({wire::message(wire::MsgType::kAlive, a)}, wrap);
  if (packet.empty()) return "cannot encode";
  const ssize_t n = ::send(udp_fd, packet.data(), packet.size(), 0);
  if (n != static_cast<ssize_t>(packet.size())) return std::string("send: ") + std::strerror(errno);
  return "";
}

int mode_churn(const Options& o) {
  int udp_fd = -1;
  if (o.via == "udp" && (udp_fd = udp_to(o.target)) < 0) {
    std::printf("error=cannot open a UDP socket to %s\n", o.target.c_str());
    return 1;
  }
  const long planned = std::max(1L, std::lround(o.rate * o.duration));
  const auto period = std::chrono::duration<double>(1.0 / o.rate);
  // A sender that falls behind (a slow tcp reply) catches up, but not forever: past the end
  // plus this much it stops, and says so, rather than bursting out a backlog.
  const auto slack = std::chrono::seconds(1);
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(period * planned);
  long sent = 0, failed = 0;
  double max_lag_ms = 0;
  std::uint32_t last_incarnation = 0;
  std::string first_error;
  for (long k = 0; k < planned; ++k) {
    const auto due = t0 + std::chrono::duration_cast<Clock::duration>(period * k);
    std::this_thread::sleep_until(due);
    const auto now = Clock::now();
    if (now > end + slack) break;
    max_lag_ms = std::max(max_lag_ms, secs_since(due, now) * 1e3);
    const int i = static_cast<int>(k % o.count);
    const auto incarnation = static_cast<std::uint32_t>(o.incarnation_base + 2 + k / o.count);
    const std::string err = send_change(o, udp_fd, i, incarnation);
    ++sent;
    last_incarnation = std::max(last_incarnation, incarnation);
    if (!err.empty()) {
      ++failed;
      if (first_error.empty()) first_error = err;
    }
  }
  const double elapsed = secs_since(t0, Clock::now());
  if (udp_fd >= 0) close(udp_fd);
  std::printf("via=%s\nplanned=%ld\nsent=%ld\nfailed=%ld\nelapsed_s=%.3f\nrate_per_s=%.1f\n",
              o.via.c_str(), planned, sent, failed, elapsed, elapsed > 0 ? sent / elapsed : 0.0);
  std::printf("max_lag_ms=%.1f\nlast_incarnation=%u\n", max_lag_ms, last_incarnation);
  if (!first_error.empty()) std::printf("first_error=%s\n", first_error.c_str());
  if (sent < planned) std::printf("error=fell behind: %ld of %ld changes sent\n", sent, planned);
  return failed == 0 && sent == planned ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const Options o = parse(argc, argv);
  if (o.mode == "push") return mode_push(o);
  if (o.mode == "churn") return mode_churn(o);
  Child child;
  if (!child.start(o)) { std::printf("error=cannot start the agent\n"); return 1; }
  int rc = 1;
  try {
    rc = o.mode == "mem" ? mode_mem(o, child) : mode_latency(o, child);
  } catch (const std::exception& e) {
    std::printf("error=%s\n", e.what());
  }
  std::printf("agent_stop=%s\n", child.stop().c_str());
  std::fflush(stdout);
  return rc;
}
