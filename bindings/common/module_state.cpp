#include "bindings/common/module_state.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace haserf::bindings {

ModuleState& ModuleState::get() {
  // Never destroyed: threads may still run while the process exits, and a forked child
  // must not run the parent's destructors. A state from another pid is abandoned.
  static std::atomic<ModuleState*> current{nullptr};
  ModuleState* state = current.load(std::memory_order_acquire);
  const pid_t pid = ::getpid();
  if (state && state->pid_ == pid) return *state;
  static std::mutex create_mutex;
  std::lock_guard<std::mutex> lock(create_mutex);
  state = current.load(std::memory_order_acquire);
  if (!state || state->pid_ != pid) {
    auto* fresh = new ModuleState();
    fresh->pid_ = pid;
    current.store(fresh, std::memory_order_release);
    state = fresh;
  }
  return *state;
}

void ModuleState::retire(std::shared_ptr<net::Agent> agent,
                         std::shared_ptr<table::MembershipTable> table) {
  if (!agent) return;
  std::thread([agent = std::move(agent), table = std::move(table)]() mutable {
    agent->stop();
    agent.reset();
  }).detach();
}

bool ModuleState::start(const StartOptions& options, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (agent_ && agent_->running() && leave_state_ == "none") return true;
  retire(std::move(agent_), table_);  // a left or stopped member from an earlier start
  if (!exit_hook_registered_) {
    exit_hook_registered_ = true;
    std::atexit([] { ModuleState::get().leave_at_exit(std::chrono::milliseconds(3000)); });
  }

  net::AgentConfig config;
  config.node_name = options.node;
  config.bind = options.bind;
  config.advertise = options.advertise;
  config.tags = options.tags;
  config.encrypt_key = options.encrypt;
  config.profile = options.profile.empty() ? "lan" : options.profile;
  auto table = std::make_shared<table::MembershipTable>();
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
  if (!agent->start(&error)) return false;
  table_ = std::move(table);
  agent_ = std::move(agent);
  node_ = agent_->node_name();
  leave_state_ = "none";
  ++starts_;
  joined_ = std::make_shared<std::atomic<int>>(-1);
  join_error_ = std::make_shared<std::string>();
  if (!options.join.empty()) {
    auto joined = joined_;
    auto join_error = join_error_;
    agent_->join(options.join, [this, joined, join_error](int n, const std::string& e) {
      std::lock_guard<std::mutex> done_lock(mutex_);
      joined->store(n);
      *join_error = e;
    });
  }
  return true;
}

bool ModuleState::started() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return agent_ && agent_->running() && leave_state_ == "none";
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

std::string ModuleState::members_json() const {
  const auto snap = snapshot();
  return table::members_to_json(snap ? snap->members() : std::vector<table::MemberPtr>{});
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
  std::lock_guard<std::mutex> lock(reload_mutex_);
  if (reload_status_.state == "running" || pending_reload_) {
    error = "busy";
    return false;
  }
  pending_reload_ = std::move(job);
  reload_status_.state = "running";
  reload_status_.message.clear();
  if (!reload_thread_started_) {
    reload_thread_started_ = true;
    std::thread([this] { reload_worker(); }).detach();
  }
  reload_wake_.notify_one();
  return true;
}

void ModuleState::reload_worker() {
  while (true) {
    ReloadJob job;
    {
      std::unique_lock<std::mutex> lock(reload_mutex_);
      reload_wake_.wait(lock, [this] { return pending_reload_.has_value(); });
      job = std::move(*pending_reload_);
      pending_reload_.reset();
    }
    render::PipelineResult result;
    std::string text, error;
    const auto snap = snapshot();
    if (!render::read_file(job.template_path, text, &error)) {
      result.outcome = render::PipelineOutcome::kRenderFailed;
      result.message = error;
    } else {
      static const table::Snapshot empty;
      render::PipelineJob pipeline{job.template_path, text, job.vars, job.out, job.check,
                                   job.reload};
      result = render::render_to_file(pipeline, snap ? *snap : empty);
    }
    std::lock_guard<std::mutex> lock(reload_mutex_);
    reload_status_.message = result.message;
    reload_status_.last_version = snap ? snap->version() : 0;
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
  }
}

ReloadStatus ModuleState::reload_status() const {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  return reload_status_;
}

Counters ModuleState::stats() const {
  Counters c;
  std::shared_ptr<table::MembershipTable> table;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    c.started = agent_ && agent_->running() && leave_state_ == "none";
    c.strings["node"] = node_;
    c.strings["leave_state"] = leave_state_;
    c.numbers["starts"] = static_cast<long long>(starts_);
    c.numbers["joined"] = joined_ ? joined_->load() : -1;
    if (join_error_) c.strings["join_error"] = *join_error_;
    table = table_;
    if (agent_) {
      const auto s = agent_->stats();
      c.numbers["packets_received"] = static_cast<long long>(s.memberlist.packets_received);
      c.numbers["packets_dropped"] = static_cast<long long>(s.memberlist.packets_dropped);
      c.numbers["messages_dropped"] = static_cast<long long>(s.memberlist.messages_dropped);
      c.numbers["packets_sent"] = static_cast<long long>(s.memberlist.packets_sent);
      c.numbers["probes"] = static_cast<long long>(s.memberlist.probes);
      c.numbers["probe_failures"] = static_cast<long long>(s.memberlist.probe_failures);
      c.numbers["refutes"] = static_cast<long long>(s.memberlist.refutes);
      c.numbers["push_pulls"] = static_cast<long long>(s.memberlist.push_pulls);
      c.numbers["nodes_refused"] = static_cast<long long>(s.memberlist.nodes_refused);
      c.numbers["awareness"] = s.awareness;
      c.numbers["tcp_errors"] = static_cast<long long>(s.tcp_errors);
      c.strings["last_drop_reason"] = s.memberlist.last_drop_reason;
    }
  }
  if (table) {
    const auto snap = table->snapshot();
    c.numbers["members"] = static_cast<long long>(snap->size());
    c.numbers["alive"] = static_cast<long long>(snap->count(table::MemberStatus::kAlive));
    c.numbers["version"] = static_cast<long long>(snap->version());
  }
  {
    std::lock_guard<std::mutex> lock(events_mutex_);
    c.numbers["events_received"] = static_cast<long long>(events_received_);
    c.numbers["events_dropped"] = static_cast<long long>(events_dropped_);
    c.numbers["events_queued"] = static_cast<long long>(events_.size());
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
  leave_locked();
}

void ModuleState::leave_locked() {
  if (!agent_ || !agent_->running() || leave_state_ != "none") return;
  leave_state_ = "leaving";
  auto agent = agent_;
  agent->leave([this, agent] {
    // On the loop thread: record, wake leave_at_exit, and release the address from another
    // thread (the loop cannot join itself).
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (agent_ == agent) leave_state_ = "left";
    }
    left_.notify_all();
    std::thread([agent] { agent->stop(); }).detach();
  });
}

std::string ModuleState::leave_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leave_state_;
}

void ModuleState::leave_at_exit(std::chrono::milliseconds bound) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!agent_ || !agent_->running()) return;
  leave_locked();
  left_.wait_for(lock, bound, [this] { return leave_state_ == "left"; });
}

void ModuleState::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  leave_state_ = "none";
  retire(std::move(agent_), std::move(table_));
}

}  // namespace haserf::bindings
