// SPDX-License-Identifier: MIT
#include "cli/event_handlers.hpp"

#include <algorithm>
#include <cctype>

#include "core/render/command_runner.hpp"

namespace haserf::cli {

namespace {

using Clock = std::chrono::steady_clock;

// serf's output buffer for a handler (circbuf maxBufSize): the last 8 KiB are kept.
constexpr std::size_t kMaxOutput = 8 * 1024;
// serf has no limit; ours only keeps a stuck script from holding the runner for ever.
constexpr std::chrono::hours kScriptTimeout{24};

bool valid_event(const std::string& e) {
  static const char* const kEvents[] = {
      "member-join", "member-leave", "member-failed", "member-update",
      "member-reap", "user",         "query",         "*"};
  return std::any_of(std::begin(kEvents), std::end(kEvents), [&](const char* k) { return e == k; });
}

// serf's eventClean: tabs and newlines escaped so a line stays a line.
std::string clean(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// SERF_TAG_<NAME>: upper case, anything but [A-Z0-9_] becomes '_' (serf's sanitizeTagRegexp).
std::string tag_env_name(const std::string& tag) {
  std::string out = "SERF_TAG_";
  for (unsigned char c : tag) {
    const char u = static_cast<char>(std::toupper(c));
    out += (std::isupper(static_cast<unsigned char>(u)) || std::isdigit(c) || u == '_') ? u : '_';
  }
  return out;
}

std::string tag_value(const table::Tags& tags, const std::string& key) {
  const auto it = tags.find(key);
  return it == tags.end() ? std::string() : it->second;
}

// Payload on stdin, with a newline added if it has none (serf's streamPayload).
std::string payload_input(const wire::Bytes& payload) {
  std::string s(payload.begin(), payload.end());
  if (!s.empty() && s.back() != '\n') s += '\n';
  return s;
}

}  // namespace

bool parse_event_handler(const std::string& spec, std::vector<EventScript>& out,
                         std::string& error) {
  std::string filter, script;
  const auto eq = spec.find('=');
  if (eq == std::string::npos) {
    script = spec;
  } else {
    filter = spec.substr(0, eq);
    script = spec.substr(eq + 1);
  }
  if (script.find_first_not_of(" \t") == std::string::npos) {
    error = "event handler '" + spec + "' has no script";
    return false;
  }
  if (filter.empty()) filter = "*";
  std::vector<EventScript> parsed;
  std::size_t start = 0;
  while (start <= filter.size()) {
    auto comma = filter.find(',', start);
    if (comma == std::string::npos) comma = filter.size();
    std::string event = filter.substr(start, comma - start), name;
    start = comma + 1;
    if (event.rfind("user:", 0) == 0) {
      name = event.substr(5);
      event = "user";
    } else if (event.rfind("query:", 0) == 0) {
      name = event.substr(6);
      event = "query";
    }
    if (!valid_event(event)) {
      error = "event handler '" + spec + "': unknown event type '" + event +
              "' (member-join, member-leave, member-failed, member-update, member-reap, user, "
              "user:NAME, query, query:NAME, *)";
      return false;
    }
    parsed.push_back({event, name, script});
  }
  out.insert(out.end(), parsed.begin(), parsed.end());
  return true;
}

EventHandlerRunner::EventHandlerRunner(Options options)
    : options_(std::move(options)), thread_([this] { run(); }) {}

EventHandlerRunner::~EventHandlerRunner() {
  close();
}

void EventHandlerRunner::set_self(std::string name, table::Tags tags) {
  std::lock_guard<std::mutex> lock(mutex_);
  self_name_ = std::move(name);
  self_tags_ = std::move(tags);
}

bool EventHandlerRunner::wants_queries() const {
  return std::any_of(options_.scripts.begin(), options_.scripts.end(),
                     [](const EventScript& s) { return s.event == "query" || s.event == "*"; });
}

bool EventHandlerRunner::push(Item item) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_ || queue_.size() >= options_.max_queued) {
      ++stats_.dropped;
      return false;
    }
    queue_.push_back(std::move(item));
  }
  wake_.notify_one();
  return true;
}

void EventHandlerRunner::member_event(table::ChangeKind kind, const table::Member& member) {
  if (kind == table::ChangeKind::kStatus) return;
  push(MemberItem{kind, member});
}

void EventHandlerRunner::user_event(const serf::UserEvent& event) {
  push(event);
}

void EventHandlerRunner::query(const serf::Query& query) {
  push(query);
}

HandlerStats EventHandlerRunner::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void EventHandlerRunner::close(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  if (!thread_.joinable()) return;
  // A script still running after the grace is killed (run_shell watches cancel_).
  std::thread killer;
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  killer = std::thread([&] {
    std::unique_lock<std::mutex> lock(done_mutex);
    if (!done_cv.wait_for(lock, grace, [&] { return done; })) cancel_ = true;
  });
  thread_.join();
  {
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
  }
  done_cv.notify_one();
  killer.join();
}

void EventHandlerRunner::run() {
  for (;;) {
    std::deque<Item> batch;
    bool closing = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const auto due = [&] {
        auto t = Clock::time_point::max();
        if (!pending_members_.empty()) {
          t = std::min({t, members_first_ + options_.coalesce, members_last_ + options_.quiescent});
        }
        if (!pending_users_.empty()) {
          t = std::min({t, users_first_ + options_.coalesce, users_last_ + options_.quiescent});
        }
        return t;
      };
      const auto until = due();
      const auto ready = [&] { return closing_ || !queue_.empty(); };
      if (until == Clock::time_point::max()) {
        wake_.wait(lock, ready);
      } else {
        wake_.wait_until(lock, until, ready);
      }
      batch.swap(queue_);
      closing = closing_;
    }
    const auto now = Clock::now();
    for (auto& item : batch) {
      if (auto* m = std::get_if<MemberItem>(&item)) {
        if (pending_members_.empty()) members_first_ = now;
        members_last_ = now;
        // The latest event of a member wins (serf's memberEventCoalescer). The name is copied
        // first: the right side of the assignment (which moves the member) runs first.
        const std::string name = m->member.name;
        pending_members_[name] =
            PendingMember{std::string(table::to_string(m->kind)), std::move(m->member)};
      } else if (auto* u = std::get_if<serf::UserEvent>(&item)) {
        if (!u->coalesce || options_.coalesce.count() == 0) {
          handle_user(*u);
          continue;
        }
        if (pending_users_.empty()) users_first_ = now;
        users_last_ = now;
        // Per name, only the newest LTime's events are kept (serf's userEventCoalescer).
        auto& list = pending_users_[u->name];
        if (list.empty() || list.front().ltime < u->ltime) {
          list = {std::move(*u)};
        } else if (list.front().ltime == u->ltime) {
          list.push_back(std::move(*u));
        }
      } else {
        handle_query(std::get<serf::Query>(item));
      }
    }
    const auto after = Clock::now();
    if (!pending_members_.empty() &&
        (closing || options_.coalesce.count() == 0 || after >= members_first_ + options_.coalesce ||
         after >= members_last_ + options_.quiescent)) {
      flush_members();
    }
    if (!pending_users_.empty() && (closing || after >= users_first_ + options_.coalesce ||
                                    after >= users_last_ + options_.quiescent)) {
      flush_user_events();
    }
    if (closing) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
    }
  }
}

void EventHandlerRunner::flush_members() {
  // Group by event type; a member whose last event sent was the same type is skipped, but
  // updates always go out (serf's memberEventCoalescer.Flush).
  std::map<std::string, std::vector<table::Member>> by_type;
  for (auto& [name, p] : pending_members_) {
    const auto last = last_member_event_.find(name);
    if (last != last_member_event_.end() && last->second == p.type && p.type != "member-update") {
      continue;
    }
    last_member_event_[name] = p.type;
    by_type[p.type].push_back(std::move(p.member));
  }
  pending_members_.clear();
  for (const auto& [type, members] : by_type) {
    // One line per member: "NAME\tADDR\tROLE\tTAGS" (serf's memberEventStdin).
    std::string input;
    for (const auto& m : members) {
      std::string tags;
      for (const auto& [k, v] : m.tags) tags += (tags.empty() ? "" : ",") + k + "=" + v;
      input += clean(m.name) + "\t" + m.addr + "\t" + clean(tag_value(m.tags, "role")) + "\t" +
               clean(tags) + "\n";
    }
    invoke(type, "", {}, input, nullptr);
  }
}

void EventHandlerRunner::flush_user_events() {
  auto pending = std::move(pending_users_);
  pending_users_.clear();
  for (const auto& [name, events] : pending) {
    for (const auto& e : events) handle_user(e);
  }
}

void EventHandlerRunner::handle_user(const serf::UserEvent& e) {
  invoke("user", e.name,
         {{"SERF_USER_EVENT", e.name}, {"SERF_USER_LTIME", std::to_string(e.ltime)}},
         payload_input(e.payload), nullptr);
}

void EventHandlerRunner::handle_query(const serf::Query& q) {
  invoke("query", q.name,
         {{"SERF_QUERY_NAME", q.name}, {"SERF_QUERY_LTIME", std::to_string(q.ltime)}},
         payload_input(q.payload), &q);
}

void EventHandlerRunner::invoke(const std::string& event, const std::string& name,
                                std::map<std::string, std::string> env, const std::string& input,
                                const serf::Query* query) {
  std::string self_name;
  table::Tags self_tags;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    self_name = self_name_;
    self_tags = self_tags_;
  }
  env["SERF_EVENT"] = event;
  env["SERF_SELF_NAME"] = self_name;
  env["SERF_SELF_ROLE"] = tag_value(self_tags, "role");
  for (const auto& [k, v] : self_tags) env[tag_env_name(k)] = v;
  bool answered = false;
  for (const auto& s : options_.scripts) {
    if (s.event != "*" && (s.event != event || (!s.name.empty() && s.name != name))) continue;
    if (cancel_) {  // shutdown's grace is over: what is left is dropped, not started
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.dropped;
      return;
    }
    const auto started = Clock::now();
    render::CommandIo io;
    io.input = &input;
    io.max_output = kMaxOutput;
    const auto r = render::run_shell(s.script, kScriptTimeout, env, &cancel_, io);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.invoked;
      if (!r.ok()) ++stats_.failed;
    }
    const std::string what = event + (name.empty() ? "" : ":" + name);
    if (options_.log) {
      if (!r.ok()) {
        options_.log("handler '" + s.script + "' for " + what + ": " + r.describe());
      } else if (took > std::chrono::seconds(1)) {
        options_.log("handler '" + s.script + "' for " + what +
                     " was slow: " + std::to_string(took.count()) + " ms");
      }
    }
    // serf answers with the output of a script that succeeded and printed something; a
    // query is answered once, so later scripts' output is not sent.
    if (query != nullptr && r.ok() && !r.output.empty() && !answered && options_.respond) {
      answered = true;
      options_.respond(*query, r.output);
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.responses;
    }
  }
}

}  // namespace haserf::cli
