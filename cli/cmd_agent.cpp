// haserf agent: a long-running Serf member that prints one JSON object per event.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"
#include "cli/event_handlers.hpp"
#include "cli/line_writer.hpp"
#include "core/render/atomic_write.hpp"
#include "core/table/table.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf agent --bind IP:PORT [--join IP[:PORT]]... [--node NAME] [--tag K=V]...\n"
    "\n"
    "Runs a Serf member (a lightweight stand-in for 'serf agent'). Prints one JSON object per\n"
    "line on stdout for every event:\n"
    "  {\"event\":\"member-join\"|\"member-update\"|\"member-leave\"|\"member-failed\"|\n"
    "   \"member-reap\", \"member\":{...same fields as serf members -format=json...}}\n"
    "  {\"event\":\"user\", \"name\":..., \"payload\":..., \"ltime\":N, \"coalesce\":bool}\n"
    "Logs go to stderr. SIGINT or SIGTERM: graceful leave, then exit 0.\n"
    "\n"
    "options:\n"
    "      --tags-file FILE   more tags, one KEY=VALUE per line ('#' comments); re-read on\n"
    "                         SIGHUP and gossiped (a live tag change, like `serf tags`)\n"
    "      --retry-join IP[:PORT]  like serf's -retry-join: joined at start and again every\n"
    "                         --retry-interval until one answers (repeatable)\n"
    "      --retry-interval DURATION  between retry-join attempts (default 30s; ms, s, m, h)\n"
    "      --retry-max N      give up and exit 1 after N failed attempts (default 0: never)\n"
    "      --event-handler [FILTER=]SCRIPT  run SCRIPT (/bin/sh -c) for events, as serf agent\n"
    "                         -event-handler does: same filters (member-join, user:NAME,\n"
    "                         query:NAME, ...), environment and stdin; a query handler's\n"
    "                         output is the response (repeatable)\n";

// KEY=VALUE lines; '#' starts a comment. False with "FILE:LINE: ..." on a malformed line.
bool read_tags_file(const std::string& path, table::Tags& tags, std::string& error) {
  std::string text;
  if (!render::read_file(path, text, &error)) return false;
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.pop_back();
    }
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    line = line.substr(first);
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = path + ":" + std::to_string(line_no) + ": expected KEY=VALUE";
      return false;
    }
    tags[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return true;
}

// Events are queued from the loop thread and written by the writer's thread (cli/line_writer.hpp).
void emit(LineWriter& out, const nlohmann::ordered_json& j) {
  out.write_line(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

}  // namespace

int cmd_agent(int argc, char** argv) {
  Args args;
  std::string error;
  auto specs = agent_option_specs();
  specs.push_back({"tags-file", 0, true, false});
  specs.push_back({"retry-join", 0, true, true});
  specs.push_back({"retry-interval", 0, true, false});
  specs.push_back({"retry-max", 0, true, false});
  specs.push_back({"event-handler", 0, true, true});
  if (!args.parse(argc, argv, 2, specs, error)) {
    std::fprintf(stderr, "haserf agent: %s (see 'haserf agent --help')\n", error.c_str());
    return kExitUsage;
  }
  if (args.help()) {
    std::printf("%s%s", kHelp, kAgentOptionsHelp);
    return kExitOk;
  }
  if (!args.has("bind")) {
    std::fprintf(stderr, "haserf agent: --bind is required (see 'haserf agent --help')\n");
    return kExitUsage;
  }
  net::AgentConfig config;
  if (!agent_config_from_args(args, config, error)) {
    std::fprintf(stderr, "haserf agent: %s\n", error.c_str());
    return kExitUsage;
  }

  config.retry_join = args.all("retry-join");
  if (auto v = args.get("retry-interval");
      v && (!parse_duration(*v, config.retry_interval) || config.retry_interval.count() == 0)) {
    std::fprintf(stderr,
                 "haserf agent: --retry-interval must be a positive duration (30s, 500ms)\n");
    return kExitUsage;
  }
  if (auto v = args.get("retry-max")) {
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 0 || n > 1000000) {
      std::fprintf(stderr, "haserf agent: --retry-max must be a number >= 0\n");
      return kExitUsage;
    }
    config.retry_max = static_cast<int>(n);
  }
  if (config.retry_join.empty() && (args.has("retry-interval") || args.has("retry-max"))) {
    std::fprintf(stderr, "haserf agent: --retry-interval and --retry-max need --retry-join\n");
    return kExitUsage;
  }
  std::vector<EventScript> scripts;
  for (const auto& spec : args.all("event-handler")) {
    if (!parse_event_handler(spec, scripts, error)) {
      std::fprintf(stderr, "haserf agent: %s\n", error.c_str());
      return kExitUsage;
    }
  }
  const auto tags_file = args.get("tags-file");
  const table::Tags flag_tags = config.tags;
  if (tags_file && !read_tags_file(*tags_file, config.tags, error)) {
    std::fprintf(stderr, "haserf agent: %s\n", error.c_str());
    return kExitFailure;
  }

  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);  // from the loop thread: retry-join gave up
  sigaddset(&signals, SIGUSR2);  // from the loop thread: the member stopped itself
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A reader that goes away is an error on the write (counted), not the end of the member.
  ::signal(SIGPIPE, SIG_IGN);

  std::fflush(stdout);
  LineWriter out(STDOUT_FILENO);
  // Declared before the agent: the agent's loop thread feeds it until agent.stop().
  // Destroyed after the handler runner (declared before it), which may still call it.
  std::atomic<net::Agent*> responder{nullptr};  // set once the agent exists, before it starts
  std::unique_ptr<EventHandlerRunner> handlers;
  if (!scripts.empty()) {
    EventHandlerRunner::Options hopts;
    hopts.scripts = scripts;
    hopts.log = [](const std::string& line) {
      std::fprintf(stderr, "haserf agent: %s\n", line.c_str());
    };
    hopts.respond = [&responder](const serf::Query& q, std::string payload) {
      if (auto* a = responder.load()) {
        a->respond(q, std::move(payload), [name = q.name](bool ok, const std::string& err) {
          if (!ok)
            std::fprintf(stderr, "haserf agent: query '%s': %s\n", name.c_str(), err.c_str());
        });
      }
    };
    handlers = std::make_unique<EventHandlerRunner>(std::move(hopts));
  }
  table::MembershipTable members;
  members.subscribe([&out, &handlers](const table::ChangeEvent& e) {
    if (e.kind == table::ChangeKind::kStatus) return;  // leaving/suspect: no serf event either
    emit(out, nlohmann::ordered_json{{"event", std::string(table::to_string(e.kind))},
                                     {"member", table::member_to_json(*e.member)}});
    if (handlers) handlers->member_event(e.kind, *e.member);
  });
  const pthread_t main_thread = pthread_self();
  const auto interval_s = std::chrono::duration<double>(config.retry_interval).count();
  config.on_retry_join = [main_thread, interval_s, max = config.retry_max](int attempt, int joined,
                                                                           const std::string& err) {
    if (joined > 0) {
      std::fprintf(stderr, "haserf agent: retry-join: attempt %d joined %d\n", attempt, joined);
    } else if (max > 0 && attempt >= max) {
      std::fprintf(stderr, "haserf agent: retry-join: attempt %d of %d failed (%s); giving up\n",
                   attempt, max, err.c_str());
      pthread_kill(main_thread, SIGUSR1);
    } else {
      std::fprintf(stderr, "haserf agent: retry-join: attempt %d failed (%s); next in %gs\n",
                   attempt, err.c_str(), interval_s);
    }
  };
  config.on_stopped = [main_thread](const std::string& why) {
    std::fprintf(stderr, "haserf agent: %s; stopping\n", why.c_str());
    pthread_kill(main_thread, SIGUSR2);
  };
  net::Agent agent(config, members);
  responder = &agent;
  if (handlers && handlers->wants_queries()) {
    agent.on_query([&handlers](const serf::Query& q) { handlers->query(q); });
  }
  agent.on_user_event([&out, &handlers](const serf::UserEvent& e) {
    if (handlers) handlers->user_event(e);
    emit(out, nlohmann::ordered_json{{"event", "user"},
                                     {"name", e.name},
                                     {"payload", std::string(e.payload.begin(), e.payload.end())},
                                     {"ltime", e.ltime},
                                     {"coalesce", e.coalesce}});
  });
  if (!agent.start(&error)) {
    std::fprintf(stderr, "haserf agent: %s\n", error.c_str());
    return kExitFailure;
  }
  std::fprintf(stderr, "haserf agent: %s listening on %s (port %u)\n", agent.node_name().c_str(),
               config.bind.c_str(), agent.port());
  if (handlers) handlers->set_self(agent.node_name(), config.tags);
  if (const auto st = agent.status(); !st.notice.empty()) {
    std::fprintf(stderr, "haserf agent: %s\n", st.notice.c_str());
  }
  const auto seeds = args.all("join");
  if (!seeds.empty()) {
    agent.join(seeds, [seeds](int joined, const std::string& err) {
      if (joined > 0) {
        std::fprintf(stderr, "haserf agent: joined %d of %zu\n", joined, seeds.size());
      } else {
        std::fprintf(stderr, "haserf agent: join failed: %s\n", err.c_str());
      }
    });
  }
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    // Live tag change: --tag values, overridden by the file's current content.
    table::Tags tags = flag_tags;
    if (!tags_file) {
      std::fprintf(stderr, "haserf agent: SIGHUP ignored (no --tags-file)\n");
    } else if (!read_tags_file(*tags_file, tags, error)) {
      std::fprintf(stderr, "haserf agent: SIGHUP: %s; tags unchanged\n", error.c_str());
    } else if (!agent.set_tags(tags, &error)) {
      std::fprintf(stderr, "haserf agent: SIGHUP: %s; tags unchanged\n", error.c_str());
    } else {
      if (handlers) handlers->set_self(agent.node_name(), tags);
      std::fprintf(stderr, "haserf agent: SIGHUP: tags now from %s (%zu tags)\n",
                   tags_file->c_str(), tags.size());
    }
  }
  if (sig == SIGUSR2) {  // lost a name conflict: serf quits without a leave, exit 1
    if (handlers) handlers->close();
    agent.stop();
    out.close();
    return kExitFailure;
  }
  if (sig == SIGUSR1) {  // retry-join exhausted: alone, nothing to leave (serf exits 1 too)
    if (handlers) handlers->close();
    agent.stop();
    out.close();
    std::fprintf(stderr, "haserf agent: stopped: no --retry-join address answered\n");
    return kExitFailure;
  }
  std::fprintf(stderr, "haserf agent: %s, leaving the cluster\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  const bool left = agent.leave_sync(std::chrono::seconds(10));
  const auto st = agent.stats();
  if (handlers) {
    handlers->close();  // pending handlers run; one still running after 5 s is killed
    const auto hs = handlers->stats();
    std::fprintf(
        stderr,
        "haserf agent: event handlers: %llu runs, %llu failed, %llu query responses, "
        "%llu events dropped\n",
        static_cast<unsigned long long>(hs.invoked), static_cast<unsigned long long>(hs.failed),
        static_cast<unsigned long long>(hs.responses), static_cast<unsigned long long>(hs.dropped));
  }
  agent.stop();
  std::fprintf(stderr, "haserf agent: %s\n", left ? "left" : "leave timed out, stopped");
  out.close();
  if (out.dropped() > 0) {
    std::fprintf(stderr,
                 "haserf agent: %llu events not written to stdout (its reader was too slow, "
                 "or gone); %llu written\n",
                 static_cast<unsigned long long>(out.dropped()),
                 static_cast<unsigned long long>(out.written()));
  }
  // What hostile or broken peers sent us, for the operator (and the trap tests).
  std::fprintf(
      stderr,
      "haserf agent: dropped %llu packets, %llu messages; %llu unsafe for Go peers "
      "(never forwarded)%s%s\n",
      static_cast<unsigned long long>(st.memberlist.packets_dropped),
      static_cast<unsigned long long>(st.memberlist.messages_dropped),
      static_cast<unsigned long long>(st.memberlist.unsafe_dropped + st.serf.unsafe_dropped),
      st.serf.last_unsafe.empty() ? "" : "; last: ", st.serf.last_unsafe.c_str());
  return kExitOk;
}

}  // namespace haserf::cli
