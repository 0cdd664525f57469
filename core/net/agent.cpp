#include "core/net/agent.hpp"

#include <unistd.h>

#include <future>

#include "core/net/uv_transport.hpp"

namespace haserf::net {

std::string default_node_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "haserf";
  return buf;
}

Agent::Agent(AgentConfig config, table::MembershipTable& table)
    : config_(std::move(config)), table_(table) {}

Agent::~Agent() { stop(); }

bool Agent::start(std::string* err) {
  if (running_) return true;
  if (config_.node_name.empty()) config_.node_name = default_node_name();

  // Timings from the profile unless the caller tuned them.
  if (!config_.tweak_swim) {
    swim::Config profile;
    if (config_.profile == "lan") {
      profile = swim::lan_config();
    } else if (config_.profile == "wan") {
      profile = swim::wan_config();
    } else if (config_.profile == "local") {
      profile = swim::local_config();
    } else {
      if (err) *err = "unknown profile '" + config_.profile + "' (lan, wan or local)";
      return false;
    }
    profile.max_nodes = config_.swim.max_nodes;
    profile.limits = config_.swim.limits;
    config_.swim = profile;
  }

  swim::Address bind;
  if (!swim::parse_address(config_.bind, 7946, bind, err)) {
    if (err) *err = "--bind: " + *err;
    return false;
  }
  swim::Address advertise = bind;
  if (!config_.advertise.empty()) {
    if (!swim::parse_address(config_.advertise, bind.port, advertise, err)) {
      if (err) *err = "--advertise: " + *err;
      return false;
    }
  }
  const bool unspecified = std::all_of(advertise.ip.begin(), advertise.ip.end(),
                                       [](std::uint8_t b) { return b == 0; });
  if (unspecified) {
    if (err) *err = "bind address " + config_.bind + " is a wildcard: give --advertise IP";
    return false;
  }
  if (!config_.encrypt_key.empty()) {
    wire::Bytes key;
    std::string kerr;
    if (!wire::parse_key_base64(config_.encrypt_key, key, &kerr)) {
      if (err) *err = "encryption key: " + kerr;
      return false;
    }
    keyring_.keys = {key};
  }

  uv_loop_init(&loop_);
  loop_initialized_ = true;
  timers_ = std::make_unique<swim::TimerQueue>();
  transport_ = std::make_unique<UvTransport>(&loop_, keyring_.enabled() ? &keyring_ : nullptr,
                                             config_.swim.limits);
  if (!transport_->bind(swim::ip_to_string(bind.ip), bind.port, err)) {
    transport_->close();
    uv_run(&loop_, UV_RUN_NOWAIT);
    transport_.reset();
    uv_loop_close(&loop_);
    loop_initialized_ = false;
    return false;
  }
  port_ = transport_->bound_port();
  if (config_.advertise.empty() || advertise.port == 0) advertise.port = port_;

  config_.swim.name = config_.node_name;
  config_.swim.advertise = advertise;
  config_.swim.keyring = keyring_;
  config_.serf.node_name = config_.node_name;
  config_.serf.tags = config_.tags;

  serf_ = std::make_unique<serf::Serf>(config_.serf, table_, *timers_);
  memberlist_ = std::make_unique<swim::Memberlist>(config_.swim, *serf_, *transport_, *timers_);
  serf_->attach(memberlist_.get());
  serf_->set_event_handler([this](const serf::UserEvent& e) {
    if (user_event_handler_) user_event_handler_(e);
  });
  transport_->set_handlers(
      [this](const swim::Address& from, std::span<const std::uint8_t> data) {
        timers_->set_now(swim::Clock::now());
        memberlist_->handle_packet(from, data);
      },
      [this](const swim::Address& from, const wire::StreamMessage& msg) {
        timers_->set_now(swim::Clock::now());
        return memberlist_->handle_stream(from, msg);
      },
      [this] { pump(); });

  uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<Agent*>(a->data)->run_posted(); });
  async_.data = this;
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;

  timers_->set_now(swim::Clock::now());
  memberlist_->start();
  pump();
  running_ = true;
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  return true;
}

void Agent::pump() {
  if (!timers_) return;
  timers_->set_now(swim::Clock::now());
  timers_->run_due();
  if (stopping_) return;
  const auto next = timers_->next_deadline();
  if (next != swim::TimePoint::max()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - timers_->now());
    // Round up: waking a millisecond early would spin until the deadline.
    const auto ms = std::max<std::int64_t>(wait.count() + 1, 1);
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<Agent*>(t->data)->pump(); },
        static_cast<std::uint64_t>(ms), 0);
  }
  const auto now = timers_->now();
  if (now - last_stats_ >= std::chrono::milliseconds(100)) {
    last_stats_ = now;
    AgentStats s;
    s.memberlist = memberlist_->stats();
    s.serf = serf_->stats();
    s.udp_send_errors = transport_->stats().udp_send_errors;
    s.tcp_accepted = transport_->stats().tcp_accepted;
    s.tcp_errors = transport_->stats().tcp_errors;
    s.awareness = memberlist_->awareness();
    s.members = memberlist_->num_members();
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_ = std::move(s);
  }
}

AgentStats Agent::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

void Agent::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (!running_ || stopping_) return;
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Agent::run_posted() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    tasks.swap(posted_);
  }
  timers_->set_now(swim::Clock::now());
  for (auto& t : tasks) t();
  pump();
}

void Agent::join(const std::vector<std::string>& seeds,
                 std::function<void(int, const std::string&)> done) {
  std::vector<swim::Address> addrs;
  std::string errors;
  for (const auto& s : seeds) {
    swim::Address a;
    std::string e;
    if (swim::parse_address(s, 7946, a, &e)) {
      addrs.push_back(a);
    } else {
      errors += (errors.empty() ? "" : "; ") + e;
    }
  }
  if (addrs.empty()) {
    if (done) done(0, errors.empty() ? "no address to join" : errors);
    return;
  }
  post([this, addrs, errors, done = std::move(done)] {
    serf_->begin_join();
    memberlist_->join(addrs, [this, errors, done](int joined, const std::string& error) {
      serf_->end_join(joined > 0);
      if (done) {
        std::string all = errors;
        if (!error.empty()) all += (all.empty() ? "" : "; ") + error;
        done(joined, all);
      }
    });
  });
}

void Agent::leave(std::function<void()> done) {
  post([this, done = std::move(done)] {
    auto finish_memberlist = [this, done] {
      memberlist_->leave(config_.serf.broadcast_timeout, [this, done] {
        serf_->mark_left();
        // Keep answering probes a moment so peers learn of the leave (LeavePropagateDelay).
        timers_->schedule(config_.serf.leave_propagate_delay, [done] {
          if (done) done();
        });
      });
    };
    if (!serf_->leave(finish_memberlist)) finish_memberlist();
  });
}

bool Agent::set_tags(table::Tags tags, std::string* err) {
  // Validate size here so the caller gets the error; the change itself runs on the loop.
  const auto meta = wire::encode_tags(tags);
  if (meta.size() > config_.serf.meta_size_limit) {
    if (err) {
      *err = "encoded tags are " + std::to_string(meta.size()) + " bytes, more than " +
             std::to_string(config_.serf.meta_size_limit);
    }
    return false;
  }
  post([this, tags = std::move(tags)] { serf_->set_tags(tags); });
  return true;
}

bool Agent::user_event(const std::string& name, const std::string& payload, bool coalesce,
                       std::string* err) {
  if (name.empty()) {
    if (err) *err = "event name is empty";
    return false;
  }
  if (name.size() + payload.size() > config_.serf.user_event_size_limit) {
    if (err) {
      *err = "event name + payload is " + std::to_string(name.size() + payload.size()) +
             " bytes, more than " + std::to_string(config_.serf.user_event_size_limit);
    }
    return false;
  }
  post([this, name, payload, coalesce] {
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                              payload.size());
    serf_->user_event(name, bytes, coalesce);
  });
  return true;
}

int Agent::join_sync(const std::vector<std::string>& seeds, std::chrono::milliseconds timeout,
                     std::string* err) {
  auto promise = std::make_shared<std::promise<std::pair<int, std::string>>>();
  auto future = promise->get_future();
  join(seeds, [promise](int joined, const std::string& error) {
    promise->set_value({joined, error});
  });
  if (future.wait_for(timeout) != std::future_status::ready) {
    if (err) *err = "join timed out";
    return 0;
  }
  auto [joined, error] = future.get();
  if (err) *err = error;
  return joined;
}

bool Agent::leave_sync(std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  leave([promise] { promise->set_value(); });
  return future.wait_for(timeout) == std::future_status::ready;
}

void Agent::stop() {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (!running_ || stopping_) return;
    posted_.push_back([this] {
      stopping_ = true;
      memberlist_->shutdown();
      transport_->close();
      uv_timer_stop(&timer_);
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    });
  }
  uv_async_send(&async_);
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    running_ = false;
    stopping_ = true;
  }
  memberlist_.reset();
  serf_.reset();
  transport_.reset();
  timers_.reset();
  if (loop_initialized_) {
    uv_loop_close(&loop_);
    loop_initialized_ = false;
  }
}

}  // namespace haserf::net
