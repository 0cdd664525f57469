// SPDX-License-Identifier: MIT
#include "bindings/common/module_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "core/wire/crypto.hpp"

extern char** environ;

namespace haserf::bindings {

namespace {

std::atomic<ModuleState*>& current_state() {
  static std::atomic<ModuleState*> state{nullptr};
  return state;
}

bool ended(const net::AgentStatus& s) {
  switch (s.phase) {
    case net::AgentPhase::kLeft:
    case net::AgentPhase::kHandedOver:
    case net::AgentPhase::kFailed:
    case net::AgentPhase::kStopped:
    case net::AgentPhase::kIdle:
      return true;
    default:
      return false;
  }
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// While a stopping process waits for its successor, HAProxy has already restored the default
// signal actions: the master's next soft-stop or reload signal would kill us mid-leave.
void ignore_host_signals() {
  for (int sig : {SIGUSR1, SIGUSR2, SIGHUP, SIGTTIN, SIGTTOU, SIGPIPE}) ::signal(sig, SIG_IGN);
}

}  // namespace

namespace {

std::atomic<int> g_proc_fd{-1};

std::optional<std::string> read_proc_file(const std::string& path) {
  keep_proc_open();
  const int dir = g_proc_fd.load();
  if (dir < 0) return std::nullopt;
  const int fd = ::openat(dir, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < (1u << 20))
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// `-sf`/`-st` followed by pids, one of them ours.
bool names_us(const std::string& cmdline, pid_t me) {
  std::vector<std::string> args;
  std::size_t start = 0;
  while (start < cmdline.size()) {
    std::size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    args.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  const std::string pid = std::to_string(me);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "-sf" && args[i] != "-st") continue;
    for (std::size_t j = i + 1; j < args.size() && !args[j].empty() &&
                                args[j].find_first_not_of("0123456789") == std::string::npos;
         ++j) {
      if (args[j] == pid) return true;
    }
  }
  return false;
}

std::string comm_of(const std::string& pid) {
  auto c = read_proc_file(pid + "/comm");
  if (!c) return {};
  while (!c->empty() && c->back() == '\n') c->pop_back();
  return *c;
}

}  // namespace

std::vector<std::string> env_names(std::string_view prefix) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    const auto name = entry.substr(0, eq);
    if (name.substr(0, prefix.size()) == prefix) out.emplace_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> host_config_files() {
  std::vector<std::string> files;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "-f") continue;
    const std::string& path = args[++i];
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> in_dir;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".cfg") == 0 && name[0] != '.') {
        in_dir.push_back(path + "/" + name);
      }
    }
    ::closedir(d);
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  return files;
}

void keep_proc_open() {
  if (g_proc_fd.load() >= 0) return;
  const int fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int expected = -1;
  if (fd >= 0 && !g_proc_fd.compare_exchange_strong(expected, fd)) ::close(fd);
}

std::optional<bool> successor_announced() {
  const pid_t me = ::getpid();
  const auto parent = read_proc_file(std::to_string(::getppid()) + "/cmdline");
  if (!parent) return std::nullopt;
  if (names_us(*parent, me)) return true;  // HAProxy master-worker: the re-executed master
  // Without a master: a new standalone process of the same program names us itself.
  const std::string comm = comm_of("self");
  const int dir = ::fcntl(g_proc_fd.load(), F_DUPFD_CLOEXEC, 0);
  DIR* d = dir >= 0 ? ::fdopendir(dir) : nullptr;
  if (d == nullptr) {
    if (dir >= 0) ::close(dir);
    return false;
  }
  ::rewinddir(d);
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (comm_of(name) != comm) continue;
    const auto cmdline = read_proc_file(name + "/cmdline");
    if (cmdline && names_us(*cmdline, me)) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

ModuleState& ModuleState::get() {
  // Never destroyed: a forked child must not run the parent's destructors, and threads are
  // joined by shutdown(), not by a destructor at an unknown point of exit.
  ModuleState* state = current_state().load(std::memory_order_acquire);
  const pid_t pid = ::getpid();
  if (state && state->pid_ == pid) return *state;
  static std::mutex create_mutex;
  std::lock_guard<std::mutex> lock(create_mutex);
  state = current_state().load(std::memory_order_acquire);
  if (!state || state->pid_ != pid) {
    auto* fresh = new ModuleState();
    fresh->pid_ = pid;
    current_state().store(fresh, std::memory_order_release);
    state = fresh;
  }
  return *state;
}

ModuleState* ModuleState::current() {
  ModuleState* state = current_state().load(std::memory_order_acquire);
  return state && state->pid_ == ::getpid() ? state : nullptr;
}

// The table goes along: the agent writes to it until its loop has stopped.
void ModuleState::retire(std::shared_ptr<net::Agent> agent,
                         std::shared_ptr<table::MembershipTable> table) {
  if (!agent) return;
  janitor_.post([agent = std::move(agent), table = std::move(table)]() mutable {
    agent->stop();
    agent.reset();
    table.reset();
  });
}

namespace {

bool to_agent_config(const StartOptions& options, net::AgentConfig& config, std::string& error) {
  config.node_name = options.node;
  config.bind = options.bind;
  config.advertise = options.advertise;
  config.tags = options.tags;
  config.encrypt_key = options.encrypt;
  config.keyring_file = options.keyring_file;
  config.snapshot_path = options.snapshot_file;
  config.profile = options.profile.empty() ? "lan" : options.profile;
  config.join = options.join;
  config.allow_sources = options.allow;
  if (options.join_retry.count() > 0 && !options.join.empty()) {
    config.retry_join = std::move(config.join);  // the first attempt is at once
    config.join.clear();
    config.retry_interval = options.join_retry;
  }
  if (!net::parse_handover_policy(options.handover, config.handover)) {
    error = "handover must be off, sibling or same-user, got '" + options.handover + "'";
    return false;
  }
  return true;
}

}  // namespace

bool ModuleState::check(const StartOptions& options, std::string& error) {
  net::AgentConfig config;
  if (!to_agent_config(options, config, error)) return false;
  if (options.policy.require_port && options.policy.port_tag.empty()) {
    error = "require_port needs a port tag";
    return false;
  }
  return net::check_config(config, &error);
}

void ModuleState::set_app_state(std::string state) {
  std::lock_guard<std::mutex> lock(app_state_mutex_);
  app_state_ = std::move(state);
}

std::optional<std::string> ModuleState::predecessor_state(const std::string& bind,
                                                          std::chrono::milliseconds timeout,
                                                          std::string& error) {
  swim::Address addr;
  if (!swim::parse_address(bind, 7946, addr, &error)) return std::nullopt;
  net::HandoverRequest req;
  req.kind = "peek";
  req.pid = ::getpid();
  req.ppid = ::getppid();
  return net::peek_app_state(net::handover_socket_name(addr), req, timeout, &error);
}

bool ModuleState::start(const StartOptions& options, std::string& error) {
  keep_proc_open();
  std::lock_guard<std::mutex> lock(mutex_);
  if (shut_down_) {
    error = "the process is shutting down";
    return false;
  }
  // An old HAProxy worker must not take the member back from its successor (a late retry).
  if (options.handover != "off" && successor_announced() == true) {
    error = "this process is being replaced (its pid is in its parent's -sf list)";
    return false;
  }
  if (agent_) {
    switch (agent_->status().phase) {
      case net::AgentPhase::kStarting:
      case net::AgentPhase::kRunning:
        return true;
      case net::AgentPhase::kLeaving:
      case net::AgentPhase::kHandingOver:
        error = std::string("the member is ") + std::string(net::to_string(agent_->status().phase));
        return false;
      default:
        break;  // left, failed, stopped, handed over: a new member
    }
  }
  net::AgentConfig config;
  if (!to_agent_config(options, config, error)) return false;
  config.app_state = [this] {
    std::lock_guard<std::mutex> app_lock(app_state_mutex_);
    return app_state_;
  };
  auto table = std::make_shared<table::MembershipTable>();
  table->set_policy(options.policy);
  auto agent = std::make_shared<net::Agent>(config, *table);
  agent->on_user_event([this](const serf::UserEvent& e) {
    std::lock_guard<std::mutex> events_lock(events_mutex_);
    ++events_received_;
    events_.push_back(e);
    while (events_.size() > kMaxQueuedEvents) {
      events_.pop_front();
      ++events_dropped_;
    }
  });
  agent->on_query([this](const serf::Query& q) {
    std::lock_guard<std::mutex> queries_lock(queries_mutex_);
    ++queries_received_;
    incoming_.push_back(IncomingQuery{++next_query_id_, q});
    while (incoming_.size() > kMaxQueuedQueries) {
      incoming_.pop_front();
      ++queries_dropped_;
    }
  });
  bool agent_started = false;
  try {
    agent_started = agent->start(&error);
  } catch (const std::system_error& e) {
    // No thread for the member: HAProxy's RLIMIT_NPROC 0 in a non-root worker without
    // insecure-fork-wanted (net::start_thread says so). The member never ran and has closed
    // what it opened; the janitor could not start either: it goes away here, and the caller
    // (the glue, which retries) gets the reason.
    error = e.what();
    return false;
  }
  if (!agent_started) {
    retire(std::move(agent), std::move(table));
    return false;
  }
  if (!exit_hook_registered_) {
    exit_hook_registered_ = true;
    // The safety net when no Lua state closes (a C host, a crash of the host's deinit).
    std::atexit([] {
      if (ModuleState* s = ModuleState::current()) s->shutdown();
    });
  }
  retire(std::move(agent_), std::move(table_));  // a left, failed or stopped earlier member
  table_ = std::move(table);
  agent_ = std::move(agent);
  options_ = options;
  node_ = agent_->node_name();
  soft_stop_requested_ = false;
  ++starts_;
  return true;
}

bool ModuleState::started() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return agent_ && agent_->running();
}

MemberStatus ModuleState::status() const {
  std::shared_ptr<net::Agent> agent;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    agent = agent_;
  }
  MemberStatus out;
  if (!agent) return out;
  const auto s = agent->status();
  out.phase = std::string(net::to_string(s.phase));
  out.error = s.error;
  out.took_over_from = s.took_over_from;
  out.handed_over_to = s.handed_over_to;
  out.joined = s.joined;
  out.join_done = s.join_done;
  out.warning = s.warning;
  return out;
}

std::string ModuleState::node_name() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return node_;
}

table::SnapshotPtr ModuleState::snapshot() const {
  std::shared_ptr<table::MembershipTable> table;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    table = table_;
  }
  return table ? table->snapshot() : nullptr;
}

std::shared_ptr<const net::Agent::RttMap> ModuleState::rtt_estimates() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return agent_ ? agent_->rtt_estimates() : nullptr;
}

std::string ModuleState::members_json() const {
  const auto snap = snapshot();
  return table::members_to_json(snap ? snap->members() : std::vector<table::MemberPtr>{});
}

std::string ModuleState::members_json(const table::MemberFilter& filter, std::size_t& matching,
                                      std::size_t& total) const {
  const auto snap = snapshot();
  auto selected =
      table::select_members(snap ? snap->members() : std::vector<table::MemberPtr>{}, filter);
  matching = selected.matching;
  total = selected.total;
  return table::members_to_json(selected.members);
}

std::vector<serf::UserEvent> ModuleState::drain_events(std::size_t max) {
  std::lock_guard<std::mutex> lock(events_mutex_);
  std::vector<serf::UserEvent> out;
  while (!events_.empty() && out.size() < max) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return out;
}

bool ModuleState::user_event(const std::string& name, const std::string& payload, bool coalesce,
                             std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!agent_ || !agent_->running()) {
    error = "not started";
    return false;
  }
  return agent_->user_event(name, payload, coalesce, &error);
}

std::vector<IncomingQuery> ModuleState::drain_queries(std::size_t max) {
  std::lock_guard<std::mutex> lock(queries_mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(awaiting_reply_, [&](const auto& kv) { return kv.second.deadline < now; });
  std::vector<IncomingQuery> out;
  while (!incoming_.empty() && out.size() < max) {
    auto q = std::move(incoming_.front());
    incoming_.pop_front();
    if (q.query.deadline < now) continue;  // nobody waits for an answer any more
    awaiting_reply_[q.id] = q.query;
    out.push_back(std::move(q));
  }
  return out;
}

bool ModuleState::respond(std::uint64_t id, const std::string& payload, std::string& error) {
  serf::Query q;
  {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    auto it = awaiting_reply_.find(id);
    if (it == awaiting_reply_.end()) {
      error = "no pending query with this id (answered already, expired, or never drained)";
      return false;
    }
    q = std::move(it->second);
    awaiting_reply_.erase(it);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!agent_ || !agent_->running()) {
    error = "not started";
    return false;
  }
  agent_->respond(q, payload, [this](bool ok, const std::string&) {
    if (ok) return;
    std::lock_guard<std::mutex> queries_lock(queries_mutex_);
    ++responses_refused_;
  });
  return true;
}

std::optional<std::uint64_t> ModuleState::query(const std::string& name, const std::string& payload,
                                                const serf::QueryParams& params,
                                                std::string& error) {
  return send_query(name, payload, params, std::make_shared<QueryResult>(), error);
}

std::optional<std::uint64_t> ModuleState::send_query(const std::string& name,
                                                     const std::string& payload,
                                                     const serf::QueryParams& params,
                                                     std::shared_ptr<QueryResult> result,
                                                     std::string& error) {
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(outgoing_, [&](const auto& kv) {
      return kv.second.finished != std::chrono::steady_clock::time_point{} &&
             now - kv.second.finished > std::chrono::seconds(60);
    });
    std::size_t open = 0;
    for (auto& [k, o] : outgoing_) {
      expire(o, now);
      open += o.result->done ? 0 : 1;
    }
    if (open >= kMaxOpenQueries) {
      error = "too many queries in flight (" + std::to_string(open) + ")";
      return std::nullopt;
    }
    id = ++next_query_id_;
    const auto timeout = params.timeout.count() > 0 ? params.timeout : std::chrono::seconds(60);
    outgoing_[id] = Outgoing{result, {}, now + timeout + std::chrono::seconds(10)};
  }
  std::shared_ptr<net::Agent> agent;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (agent_ && agent_->running()) agent = agent_;
  }
  if (!agent) {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    outgoing_.erase(id);
    error = "not started";
    return std::nullopt;
  }
  // Callbacks run on the loop thread; the result is shared with query_result() under the lock.
  const auto finish = [this, id, result] {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    if (result->done) return;
    result->done = true;
    if (auto it = outgoing_.find(id); it != outgoing_.end()) {
      it->second.finished = std::chrono::steady_clock::now();
    }
  };
  serf::QueryCallbacks cb;
  cb.ack = [this, result](const std::string& from) {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    result->acks.push_back(from);
  };
  cb.response = [this, result, finish](const std::string& from, const wire::Bytes& p) {
    bool all_answered = false;
    {
      std::lock_guard<std::mutex> lock(queries_mutex_);
      result->responses.emplace_back(from, std::string(p.begin(), p.end()));
      if (result->key_op) {
        serf::add_key_answer(result->keys, from, p);
        all_answered = result->keys.num_resp >= result->keys.num_nodes;
      }
    }
    if (all_answered) finish();  // serf's key manager returns once everyone answered
  };
  cb.done = [finish](int, int) { finish(); };
  agent->query(name, payload, params, std::move(cb),
               [this, result, finish](bool ok, const std::string& err) {
                 if (ok) return;
                 {
                   std::lock_guard<std::mutex> lock(queries_mutex_);
                   result->error = err;
                 }
                 finish();
               });
  return id;
}

void ModuleState::expire(Outgoing& o, std::chrono::steady_clock::time_point now) {
  if (o.result->done || now < o.deadline) return;
  o.result->done = true;
  if (o.result->error.empty()) o.result->error = "no end reported (the member stopped?)";
  o.finished = now;
}

std::optional<std::uint64_t> ModuleState::keys(serf::KeyOp op, const std::string& key,
                                               std::string& error) {
  wire::Bytes raw;
  if (op != serf::KeyOp::kList && !wire::parse_key_base64(key, raw, &error)) return std::nullopt;
  const auto payload = serf::key_query_payload(op, raw);
  std::shared_ptr<net::Agent> agent;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (agent_ && agent_->running()) agent = agent_;
  }
  // A key query from the start: answers may arrive as soon as it is sent.
  auto result = std::make_shared<QueryResult>();
  result->key_op = op;
  result->keys.num_nodes = agent ? static_cast<int>(agent->stats().members) : 0;
  return send_query(serf::key_query_name(op), std::string(payload.begin(), payload.end()), {},
                    std::move(result), error);
}

std::optional<QueryResult> ModuleState::query_result(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(queries_mutex_);
  auto it = outgoing_.find(id);
  if (it == outgoing_.end()) return std::nullopt;
  expire(it->second, std::chrono::steady_clock::now());
  QueryResult copy = *it->second.result;
  if (copy.done) outgoing_.erase(it);
  return copy;
}

bool ModuleState::set_tags(std::map<std::string, std::string> tags, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!agent_ || !agent_->running()) {
    error = "not started";
    return false;
  }
  return agent_->set_tags(std::move(tags), &error);
}

render::RenderResult ModuleState::render(std::string_view template_text,
                                         const std::map<std::string, std::string>& vars) const {
  const auto snap = snapshot();
  static const table::Snapshot empty;
  return render::render(template_text, "template", snap ? *snap : empty, vars);
}

bool ModuleState::reload(ReloadJob job, std::string& error) {
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    if (shut_down_) {
      error = "the process is shutting down";
      return false;
    }
    if (reload_status_.state == "running") {
      error = "busy";
      return false;
    }
    reload_status_.state = "running";
    reload_status_.message.clear();
    reload_status_.started_at = unix_seconds();
  }
  reload_worker_.post([this, job = std::move(job)]() mutable { run_reload(std::move(job)); });
  return true;
}

void ModuleState::run_reload(ReloadJob job) {
  const auto began = std::chrono::steady_clock::now();
  render::PipelineResult result;
  std::string text, error;
  const auto snap = snapshot();
  if (!render::read_file(job.template_path, text, &error)) {
    result.outcome = render::PipelineOutcome::kRenderFailed;
    result.message = error;
  } else {
    static const table::Snapshot empty;
    // Partials ({{> name}}) come from the template's folder, re-read with it on every reload.
    auto loaded = render::load_template(std::move(text), job.template_path, {});
    if (!loaded.ok()) {
      result.outcome = render::PipelineOutcome::kRenderFailed;
      result.message = loaded.error;
    } else {
      render::PipelineJob pipeline{loaded.tmpl, job.vars, {}, job.out, job.check, job.reload};
      pipeline.cancel = &cancel_commands_;
      result = render::render_to_file(pipeline, snap ? snap.get() : &empty);
    }
  }
  std::lock_guard<std::mutex> lock(reload_mutex_);
  reload_status_.message = result.message;
  reload_status_.last_version = snap ? snap->version() : 0;
  reload_status_.finished_at = unix_seconds();
  reload_status_.duration =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  switch (result.outcome) {
    case render::PipelineOutcome::kWritten:
      reload_status_.state = "ok";
      ++reload_status_.ok;
      break;
    case render::PipelineOutcome::kUnchanged:
      reload_status_.state = "unchanged";
      ++reload_status_.unchanged;
      break;
    default:
      reload_status_.state = "failed";
      ++reload_status_.failed;
      break;
  }
  reload_status_.last_result = reload_status_.state;
}

ReloadStatus ModuleState::reload_status() const {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  return reload_status_;
}

Counters ModuleState::stats() const {
  Counters c;
  std::shared_ptr<table::MembershipTable> table;
  std::shared_ptr<net::Agent> agent;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    c.strings["node"] = node_;
    c.numbers["starts"] = static_cast<long long>(starts_);
    table = table_;
    agent = agent_;
  }
  const auto st = agent ? agent->status() : net::AgentStatus{};
  c.started = st.phase == net::AgentPhase::kRunning;
  c.strings["phase"] = std::string(net::to_string(st.phase));
  c.strings["leave_state"] = st.phase == net::AgentPhase::kLeaving ? "leaving"
                             : st.phase == net::AgentPhase::kLeft  ? "left"
                                                                   : "none";
  c.numbers["joined"] = st.joined;
  c.strings["join_error"] = st.join_error;
  c.strings["error"] = st.error;
  c.numbers["took_over_from"] = st.took_over_from;
  c.numbers["handed_over_to"] = st.handed_over_to;
  c.numbers["handovers_refused"] = static_cast<long long>(st.handovers_refused);
  if (agent) {
    const auto s = agent->stats();
    for (const auto& counter : net::gossip_counters()) {
      c.numbers[counter.name] = static_cast<long long>(counter.read(s));
    }
    c.numbers["awareness"] = s.awareness;
    c.strings["last_drop_reason"] = s.memberlist.last_drop_reason;
    c.strings["last_unsafe"] = s.serf.last_unsafe;
  }
  if (table) {
    const auto snap = table->snapshot();
    c.numbers["members"] = static_cast<long long>(snap->size());
    c.numbers["version"] = static_cast<long long>(snap->version());
    // The metrics' counts by status and of rejected members, in one pass over the snapshot:
    // a scrape must not build a Lua table per member (10,000 of them) to count them.
    long long rejected = 0;
    std::map<table::MemberStatus, long long> by_status;
    for (const auto& m : snap->members()) {
      ++by_status[m->status];
      if (!m->rejected.empty()) ++rejected;
    }
    for (auto s :
         {table::MemberStatus::kAlive, table::MemberStatus::kSuspect, table::MemberStatus::kLeaving,
          table::MemberStatus::kLeft, table::MemberStatus::kFailed}) {
      c.numbers[std::string(table::to_string(s))] = by_status[s];
    }
    c.numbers["rejected"] = rejected;
  }
  {
    std::lock_guard<std::mutex> lock(events_mutex_);
    c.numbers["events_received"] = static_cast<long long>(events_received_);
    c.numbers["events_dropped"] = static_cast<long long>(events_dropped_);
    c.numbers["events_queued"] = static_cast<long long>(events_.size());
  }
  {
    std::lock_guard<std::mutex> lock(queries_mutex_);
    c.numbers["queries_received"] = static_cast<long long>(queries_received_);
    c.numbers["queries_dropped"] = static_cast<long long>(queries_dropped_);
    c.numbers["queries_queued"] = static_cast<long long>(incoming_.size());
    c.numbers["query_responses_refused"] = static_cast<long long>(responses_refused_);
  }
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    c.numbers["reloads_ok"] = static_cast<long long>(reload_status_.ok);
    c.numbers["reloads_failed"] = static_cast<long long>(reload_status_.failed);
    c.numbers["reloads_unchanged"] = static_cast<long long>(reload_status_.unchanged);
  }
  return c;
}

void ModuleState::leave() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (agent_) agent_->leave();
}

void ModuleState::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  retire(std::move(agent_), std::move(table_));
}

void ModuleState::soft_stop() {
  std::shared_ptr<net::Agent> agent;
  std::chrono::milliseconds wait{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (soft_stop_requested_ || !agent_) return;
    soft_stop_requested_ = true;
    agent = agent_;
    // Nobody can take over a member that does not hand over: leave at once.
    wait = options_.handover == "off" ? std::chrono::milliseconds(0) : options_.handover_wait;
  }
  janitor_.post([this, agent, wait] { stop_or_hand_over(agent, wait); });
}

// On the janitor: a reload hands our identity to the new worker, a stop leaves.
void ModuleState::stop_or_hand_over(const std::shared_ptr<net::Agent>& agent,
                                    std::chrono::milliseconds wait) {
  using namespace std::chrono_literals;
  // A start or a handover in flight finishes first: a leave is only taken by a running member.
  const auto settled = [](const net::AgentStatus& s) {
    return s.phase != net::AgentPhase::kStarting && s.phase != net::AgentPhase::kHandingOver;
  };
  agent->wait_status(settled, 15s);
  if (agent->status().phase == net::AgentPhase::kRunning && wait.count() > 0 &&
      successor_announced() != false) {
    // A successor is (or may be) starting: give it the chance to take over.
    if (agent->wait_status(ended, wait)) return;
    agent->wait_status(settled, 15s);
  }
  if (ended(agent->status())) return;
  agent->leave();
  // Leave intent + dead + propagation delay: about 1.2 s, 6 s when peers do not answer.
  agent->wait_status(ended, 10s);
}

void ModuleState::shutdown() {
  if (shut_down_.exchange(true)) return;
  std::shared_ptr<net::Agent> agent;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    agent = agent_;
  }
  if (agent && !ended(agent->status())) {
    ignore_host_signals();
    soft_stop();  // no-op when the host already asked
  }
  janitor_.stop();  // finishes the hand-over-or-leave decision (bounded) and retired agents
  cancel_commands_ = true;
  reload_worker_.stop();
  if (agent) agent->stop();
}

}  // namespace haserf::bindings
