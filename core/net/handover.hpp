// SPDX-License-Identifier: MIT
// Passing the gossip identity from one process to its successor without leaving the cluster
// (an HAProxy reload: the new worker takes over from the old one). docs/haproxy.md "Reloads".
//
// The predecessor listens on an abstract Unix socket named after its gossip bind address.
// The successor connects and asks; the predecessor checks who asks (same user; with the
// "sibling" policy also the same parent process, i.e. the same HAProxy master), pauses its
// member, and sends its UDP socket, its TCP listener and its handover listener (SCM_RIGHTS)
// followed by its whole state. The successor adopts the sockets, imports the state, announces
// itself with a refreshed incarnation. The predecessor decides: the successor says it is ready
// ('A'), the predecessor commits ('C') and stops, and only then does the successor touch the
// sockets. If the successor fails, stays silent past the timeout or never gets the commit,
// the predecessor resumes (or never stopped) and the successor stands down: never two
// members on the same sockets. Packets that arrive meanwhile wait in the kernel's buffer.
//
// Frames on the socket: a u32 big-endian length, then a msgpack map.
//   successor → predecessor  request  {V:1, Kind:"takeover", Node, Advertise, Pid, Ppid}
//   predecessor → successor  offer    {V:1, OK, Error, Pid, StateLen} (+ 3 fds when OK),
//                                     then StateLen bytes of encoded HandoverState
//   successor → predecessor  one byte: 'A' (state decoded, ready to adopt) or 'N' (resume)
//   predecessor → successor  one byte: 'C' (committed: the sockets are yours; sent only while
//                            the handover is still live, so exactly one side ever serves)
// A "peek" request ({Kind:"peek"}, same fields) is answered with {V:1, OK, Error, Pid,
// AppState} and nothing changes hands: the embedding application's own state (the HAProxy
// glue's slot table), read by the next HAProxy master before it forks the worker that will
// take over. The parent of the member (that master) may peek too.
//
// Ownership: take_over() returns descriptors the caller owns (it closes everything itself on
// failure). HandoverServer owns its listener and connection handles; they are freed in their
// libuv close callbacks. Everything of HandoverServer runs on its loop thread.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "core/serf/serf.hpp"
#include "core/swim/memberlist.hpp"

namespace haserf::net {

// Who may take our identity over. kOff: nobody (a stop always leaves, a restart joins anew).
// kSibling: a process of the same user whose parent is our parent (the next HAProxy worker
// of the same master). kSameUser: any process of the same user (for hosts that restart the
// member outside a master-worker setup).
enum class HandoverPolicy : std::uint8_t { kOff, kSibling, kSameUser };
bool parse_handover_policy(std::string_view text, HandoverPolicy& out);
std::string_view to_string(HandoverPolicy policy);

struct HandoverState {
  swim::MemberlistState memberlist;
  serf::SerfSnapshot serf;
  // The gossip keyring, primary first (key queries may have changed it since start). Empty
  // when encryption is off, or from a predecessor that did not send it.
  std::vector<wire::Bytes> keys;
};
wire::Bytes encode_handover_state(const HandoverState& state);
bool decode_handover_state(std::span<const std::uint8_t> data, HandoverState& out,
                           std::string* err);

// "\0haserf-handover/IP:PORT" (an abstract name: nothing on disk, works inside chroot, one
// per network namespace like the port itself).
std::string handover_socket_name(const swim::Address& bind);

struct HandoverRequest {
  std::string kind = "takeover";  // or "peek"
  std::string node;
  std::string advertise;  // "IP:PORT" we will announce
  pid_t pid = 0;
  pid_t ppid = 0;
};

// What the successor gets. Descriptors are owned by the holder: close_fds() releases them.
struct Takeover {
  enum class Outcome : std::uint8_t { kNoPredecessor, kRefused, kFailed, kTaken };
  Outcome outcome = Outcome::kNoPredecessor;
  std::string message;  // why it was refused or failed
  pid_t from_pid = 0;
  int udp_fd = -1, tcp_fd = -1, listener_fd = -1;
  int conn_fd = -1;  // kTaken: answer with commit_takeover() or refuse_takeover()
  HandoverState state;
  std::string app_state;  // peek only
  void close_fds();
};

// The successor's side, blocking at most `timeout`: meant for the new member's own loop
// thread before it serves anything.
Takeover take_over(const std::string& socket_name, const HandoverRequest& request,
                   std::chrono::milliseconds timeout);
// Tells the predecessor we are ready ('A') and waits (at most `timeout`) for its commit ('C').
// True: the sockets are ours now. False: it resumed (or is gone); do not use them. Closes
// the connection either way.
bool commit_takeover(int conn_fd, std::chrono::milliseconds timeout);
// Tells the predecessor to resume ('N') and closes the connection.
void refuse_takeover(int conn_fd);

// Asks the member bound to `socket_name` for its application state, blocking at most
// `timeout`. nullopt with a reason when there is no member there or it refused.
std::optional<std::string> peek_app_state(const std::string& socket_name,
                                          const HandoverRequest& request,
                                          std::chrono::milliseconds timeout, std::string* err);

// The predecessor's side, on its loop.
class HandoverServer {
 public:
  struct Offer {
    int udp_fd = -1, tcp_fd = -1;  // duplicates; the server closes them when done
    wire::Bytes state;
  };
  struct Callbacks {
    // Checks the request against our identity, pauses the member and fills `offer`; or
    // returns false with a refusal reason (nothing paused).
    std::function<bool(const HandoverRequest&, Offer& offer, std::string& refusal)> offer;
    // The successor adopted everything: stop without leaving.
    std::function<void(pid_t successor)> completed;
    // The successor failed or stayed silent: resume on the sockets (`offer` fds are still
    // open when this runs; the server closes them after it returns).
    std::function<void(const Offer& offer, const std::string& why)> aborted;
    // The application's state for a peek (may be empty).
    std::function<std::string()> app_state;
  };

  HandoverServer(uv_loop_t* loop, HandoverPolicy policy, std::chrono::milliseconds timeout,
                 Callbacks callbacks);
  ~HandoverServer();
  HandoverServer(const HandoverServer&) = delete;
  HandoverServer& operator=(const HandoverServer&) = delete;

  // Binds and listens on the abstract name. EADDRINUSE means a predecessor still holds it.
  bool listen(const std::string& socket_name, std::string* err);
  // Listens on a socket handed over by our own predecessor.
  bool adopt(int listener_fd, std::string* err);
  bool listening() const { return listening_; }
  // Stops listening and drops a handover in progress (its successor sees EOF).
  void close();

  std::uint64_t refused() const { return refused_; }
  const std::string& last_refusal() const { return last_refusal_; }

  struct Session;             // one connection (public for the libuv callbacks)
  void on_bytes(Session* s);  // (public for the libuv callbacks)

 private:
  static void on_connection(uv_stream_t* server, int status);
  void end_session(Session* s, bool completed, const std::string& why);
  void refuse(Session* s, const std::string& why);

  uv_loop_t* loop_;
  HandoverPolicy policy_;
  std::chrono::milliseconds timeout_;
  Callbacks callbacks_;
  uv_pipe_t* listener_ = nullptr;  // heap: freed in its close callback
  bool listening_ = false;
  std::set<Session*> sessions_;  // open connections (peeks, requests not read yet)
  Session* takeover_ = nullptr;  // at most one takeover at a time
  std::uint64_t refused_ = 0;
  std::string last_refusal_;
};

}  // namespace haserf::net
