// SPDX-License-Identifier: MIT
// haserf agent: a long-running Serf member that prints one JSON object per event.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/agent_config_file.hpp"
#include "cli/agent_options.hpp"
#include "cli/commands.hpp"
#include "cli/event_handlers.hpp"
#include "cli/line_writer.hpp"
#include "core/render/atomic_write.hpp"
#include "core/rpc/rpc_server.hpp"
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
    "Logs go to stderr. SIGINT or SIGTERM: graceful leave, then exit 0 (see below).\n"
    "\n"
    "options:\n"
    "      --tags-file FILE   more tags, one KEY=VALUE per line ('#' comments); re-read on\n"
    "                         SIGHUP and gossiped (a live tag change, like `serf tags`)\n"
    "      --retry-join IP[:PORT]  like serf's -retry-join: joined at start and again every\n"
    "                         --retry-interval until one answers (repeatable)\n"
    "      --retry-interval DURATION  between retry-join attempts (default 30s; ms, s, m, h)\n"
    "      --retry-max N      give up and exit 1 after N failed attempts (default 0: never)\n"
    "      --snapshot PATH    serf's -snapshot: members, Lamport clocks and our leave are\n"
    "                         appended to PATH; a restart witnesses the clocks and, unless\n"
    "                         the last run left gracefully, joins the members it knew again\n"
    "      --rejoin           serf's -rejoin: rejoin from the snapshot even after a leave\n"
    "      --allow CIDR       only these sources may reach the gossip port (repeatable;\n"
    "                         others are dropped before decoding and counted; default: all)\n"
    "      --rpc-addr IP:PORT serve serf's RPC protocol there, so that the serf CLI (serf\n"
    "                         members, event, query, keys, monitor, rtt...) and haserf's\n"
    "                         members/event/query/rtt talk to this agent (default\n"
    "                         127.0.0.1:7373; a taken default is a warning, a taken given\n"
    "                         address an error; 'off' turns it off)\n"
    "      --rpc-auth KEY     RPC clients must authenticate with KEY (serf's -rpc-auth)\n"
    "      --config-file FILE serf agent's JSON config (node_name, bind, tags, encrypt_key,\n"
    "                         event_handlers, retry_join, rpc_addr, ...; repeatable; later\n"
    "                         files win, lists add up; the command line wins over files)\n"
    "      --config-dir DIR   every *.json file of DIR, in name order (repeatable)\n"
    "      --no-leave-on-terminate  SIGTERM stops without a leave (serf's default)\n"
    "      --skip-leave-on-interrupt  SIGINT stops without a leave\n"
    "      --log-level LEVEL  debug, info (default), warn or err: lines below it are not\n"
    "                         written (serf's -log-level; `serf monitor` chooses its own)\n"
    "      --log-json         log lines as JSON objects (@timestamp, @level, @module,\n"
    "                         @message: serf 0.10's format), one per line\n"
    "      --event-handler [FILTER=]SCRIPT  run SCRIPT (/bin/sh -c) for events, as serf agent\n"
    "                         -event-handler does: same filters (member-join, user:NAME,\n"
    "                         query:NAME, ...), environment and stdin; a query handler's\n"
    "                         output is the response (repeatable)\n";

// KEY=VALUE lines ('#' starts a comment), or serf's JSON object. False with "FILE:LINE: ..."
// on a malformed line.
bool read_tags_file(const std::string& path, table::Tags& tags, std::string& error) {
  std::string text;
  if (!render::read_file(path, text, &error)) return false;
  // serf's -tags-file format: a JSON object of strings.
  if (const auto first = text.find_first_not_of(" \t\r\n");
      first != std::string::npos && text[first] == '{') {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      error = path + ": not a JSON object of tags (serf's tags file format)";
      return false;
    }
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) {
        error = path + ": tag '" + k + "' is not a string";
        return false;
      }
      tags[k] = v.get<std::string>();
    }
    return true;
  }
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

// The RPC server of this process, once it runs: `serf monitor` clients get our log lines.
std::atomic<rpc::Server*> g_rpc{nullptr};

// --log-level and --log-json (set once, before any other thread runs).
int g_log_min_rank = 1;  // DEBUG 0, INFO 1, WARN 2, ERR 3
bool g_log_json = false;

int log_rank(std::string_view level) {
  if (level == "DEBUG" || level == "TRACE") return 0;
  if (level == "INFO") return 1;
  if (level == "WARN") return 2;
  return 3;  // ERR
}

// Every log line: stderr, as "2026/11/30 14:25:01 [INFO] haserf agent: ..." (serf's layout)
// or one JSON object (--log-json), and serf's log format for monitor clients.
[[gnu::format(printf, 2, 3)]] void agent_log(const char* level, const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::string line = buf;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
  if (log_rank(level) >= g_log_min_rank) {
    if (g_log_json) {
      std::tm utc{};
      ::gmtime_r(&secs, &utc);
      char iso[40];
      std::strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &utc);
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
          1000;
      char with_ms[48];
      std::snprintf(with_ms, sizeof(with_ms), "%s.%03dZ", iso, static_cast<int>(ms));
      std::string lower = level;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const nlohmann::ordered_json j = {{"@timestamp", with_ms},
                                        {"@level", lower == "err" ? "error" : lower},
                                        {"@module", "agent"},
                                        {"@message", line}};
      std::fprintf(
          stderr, "%s\n",
          j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    } else {
      std::fprintf(stderr, "%s [%s] haserf agent: %s\n", stamp, level, line.c_str());
    }
  }
  if (auto* server = g_rpc.load()) {
    server->log_line(level, std::string(stamp) + " [" + level + "] agent: " + line);
  }
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
  specs.push_back({"event-handler", 0, true, true, nullptr, '\n'});       // "a,b=script"
  specs.push_back({"snapshot", 0, true, false, "HASERF_SNAPSHOT_FILE"});  // the glue's name
  specs.push_back({"rejoin", 0, false, false});
  specs.push_back({"allow", 0, true, true});
  specs.push_back({"rpc-addr", 0, true, false});
  specs.push_back({"rpc-auth", 0, true, false});
  specs.push_back({"config-file", 0, true, true});
  specs.push_back({"config-dir", 0, true, true});
  specs.push_back({"no-leave-on-terminate", 0, false, false});
  specs.push_back({"skip-leave-on-interrupt", 0, false, false});
  specs.push_back({"log-level", 0, true, false});
  specs.push_back({"log-json", 0, false, false});
  if (!args.parse(argc, argv, 2, specs, error)) {
    agent_log("ERR", "%s (see 'haserf agent --help')\n", error.c_str());
    return kExitUsage;
  }
  for (auto& spec : specs) {
    if (spec.long_name == "tag") spec.env = "HASERF_TAGS";  // the glue's name: k=v,k=v
  }
  if (args.help()) {
    std::printf("%s%s%s%s", kHelp, kAgentOptionsHelp, env_help("HASERF_", "HASERF_BIND").c_str(),
                "HASERF_EVENT_HANDLER takes one handler per line (they may hold commas);\n"
                "--tag and --snapshot are HASERF_TAGS=k=v,k=v and HASERF_SNAPSHOT_FILE, as the\n"
                "HAProxy glue names them. Precedence: command line, environment, config files.\n");
    return kExitOk;
  }
  // The same HASERF_* names as the HAProxy glue: one environment (a container's) configures
  // either. Precedence: command line, then environment, then config files, then defaults.
  std::vector<std::string> from_env;
  if (!args.add_environment("HASERF_", specs, {}, std::getenv, error, &from_env)) {
    agent_log("ERR", "%s\n", error.c_str());
    return kExitUsage;
  }
  // serf's JSON config: files first, then directories (as serf reads them); the command line
  // wins over both, and lists (join, retry-join, event handlers, tags) add up.
  AgentFileConfig file_config;
  for (const auto& f : args.all("config-file")) {
    if (!read_agent_config_file(f, file_config, error)) {
      agent_log("ERR", "%s\n", error.c_str());
      return kExitUsage;
    }
  }
  for (const auto& d : args.all("config-dir")) {
    if (!read_agent_config_dir(d, file_config, error)) {
      agent_log("ERR", "%s\n", error.c_str());
      return kExitUsage;
    }
  }
  for (const auto& [option, values] : file_config.options) {
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&](const OptionSpec& o) { return o.long_name == option; });
    args.add_defaults(option, values, spec != specs.end() && spec->repeatable);
  }
  if (auto level = args.get("log-level")) {
    std::string l = *level;
    for (auto& c : l) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (l == "TRACE" || l == "DEBUG") {
      g_log_min_rank = 0;
    } else if (l == "INFO") {
      g_log_min_rank = 1;
    } else if (l == "WARN") {
      g_log_min_rank = 2;
    } else if (l == "ERR" || l == "ERROR") {
      g_log_min_rank = 3;
    } else {
      agent_log("ERR", "--log-level must be debug, info, warn or err, not '%s'\n", level->c_str());
      return kExitUsage;
    }
  }
  g_log_json = args.has("log-json");
  if (!args.has("bind")) {
    agent_log("ERR", "--bind (or HASERF_BIND) is required (see 'haserf agent --help')\n");
    return kExitUsage;
  }
  net::AgentConfig config;
  if (!agent_config_from_args(args, config, error)) {
    agent_log("ERR", "%s\n", error.c_str());
    return kExitUsage;
  }
  // What serf's config files set that has no option of ours.
  if (file_config.query_size_limit) config.serf.query_size_limit = *file_config.query_size_limit;
  if (file_config.query_response_size_limit) {
    config.serf.query_response_size_limit = *file_config.query_response_size_limit;
  }
  if (file_config.user_event_size_limit) {
    config.serf.user_event_size_limit = *file_config.user_event_size_limit;
  }
  if (file_config.reconnect_interval)
    config.serf.reconnect_interval = *file_config.reconnect_interval;
  if (file_config.reconnect_timeout) config.serf.reconnect_timeout = *file_config.reconnect_timeout;
  if (file_config.tombstone_timeout) config.serf.tombstone_timeout = *file_config.tombstone_timeout;
  if (file_config.broadcast_timeout) config.serf.broadcast_timeout = *file_config.broadcast_timeout;
  if (file_config.disable_coordinates) {
    config.serf.disable_coordinates = *file_config.disable_coordinates;
  }
  // serf leaves on SIGINT unless skip_leave_on_interrupt, and on SIGTERM only with
  // leave_on_terminate; haserf agent leaves on both unless told otherwise (a config file's
  // explicit leave_on_terminate=false, or --no-leave-on-terminate).
  const bool leave_on_term =
      !args.has("no-leave-on-terminate") && file_config.leave_on_terminate.value_or(true);
  const bool leave_on_int =
      !args.has("skip-leave-on-interrupt") && !file_config.skip_leave_on_interrupt.value_or(false);
  if (!from_env.empty()) {
    std::string list;
    for (const auto& v : from_env) list += (list.empty() ? "" : ", ") + v;
    agent_log("INFO", "options from the environment: %s\n", list.c_str());
  }
  for (const auto& f : file_config.files) agent_log("INFO", "config file %s read\n", f.c_str());
  if (!file_config.ignored.empty()) {
    std::string list;
    for (const auto& k : file_config.ignored) list += (list.empty() ? "" : ", ") + k;
    agent_log("WARN", "config keys accepted but not used by haserf: %s\n", list.c_str());
  }

  config.retry_join = args.all("retry-join");
  config.allow_sources = args.all("allow");
  if (auto v = args.get("retry-interval");
      v && (!parse_duration(*v, config.retry_interval) || config.retry_interval.count() == 0)) {
    agent_log("INFO", "--retry-interval must be a positive duration (30s, 500ms)\n");
    return kExitUsage;
  }
  if (auto v = args.get("retry-max")) {
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 0 || n > 1000000) {
      agent_log("INFO", "--retry-max must be a number >= 0\n");
      return kExitUsage;
    }
    config.retry_max = static_cast<int>(n);
  }
  if (config.retry_join.empty() && (args.has("retry-interval") || args.has("retry-max"))) {
    agent_log("INFO", "--retry-interval and --retry-max need --retry-join\n");
    return kExitUsage;
  }
  config.snapshot_path = args.get("snapshot").value_or("");
  config.rejoin = args.has("rejoin");
  config.on_snapshot_log = [](const std::string& line) { agent_log("INFO", "%s\n", line.c_str()); };
  std::vector<EventScript> scripts;
  for (const auto& spec : args.all("event-handler")) {
    if (!parse_event_handler(spec, scripts, error)) {
      agent_log("INFO", "%s\n", error.c_str());
      return kExitUsage;
    }
  }
  const auto tags_file = args.get("tags-file");
  const table::Tags flag_tags = config.tags;
  if (tags_file && !read_tags_file(*tags_file, config.tags, error)) {
    agent_log("INFO", "%s\n", error.c_str());
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
  // Made after the agent, before it starts; stopped after agent.stop() (no feed after that).
  std::unique_ptr<rpc::Server> rpc_server;
  std::atomic<bool> left_by_rpc{false};
  std::unique_ptr<EventHandlerRunner> handlers;
  if (!scripts.empty()) {
    EventHandlerRunner::Options hopts;
    hopts.scripts = scripts;
    hopts.log = [](const std::string& line) { agent_log("INFO", "%s\n", line.c_str()); };
    hopts.respond = [&responder](const serf::Query& q, std::string payload) {
      if (auto* a = responder.load()) {
        a->respond(q, std::move(payload), [name = q.name](bool ok, const std::string& err) {
          if (!ok) agent_log("INFO", "query '%s': %s\n", name.c_str(), err.c_str());
        });
      }
    };
    handlers = std::make_unique<EventHandlerRunner>(std::move(hopts));
  }
  table::MembershipTable members;
  members.subscribe([&out, &handlers, &rpc_server](const table::ChangeEvent& e) {
    if (e.kind == table::ChangeKind::kStatus) return;  // leaving/suspect: no serf event either
    emit(out, nlohmann::ordered_json{{"event", std::string(table::to_string(e.kind))},
                                     {"member", table::member_to_json(*e.member)}});
    if (handlers) handlers->member_event(e.kind, *e.member);
    if (rpc_server) rpc_server->member_event(e);
  });
  const pthread_t main_thread = pthread_self();
  const auto interval_s = std::chrono::duration<double>(config.retry_interval).count();
  config.on_retry_join = [main_thread, interval_s, max = config.retry_max](int attempt, int joined,
                                                                           const std::string& err) {
    if (joined > 0) {
      agent_log("INFO", "retry-join: attempt %d joined %d\n", attempt, joined);
    } else if (max > 0 && attempt >= max) {
      agent_log("INFO", "retry-join: attempt %d of %d failed (%s); giving up\n", attempt, max,
                err.c_str());
      pthread_kill(main_thread, SIGUSR1);
    } else {
      agent_log("INFO", "retry-join: attempt %d failed (%s); next in %gs\n", attempt, err.c_str(),
                interval_s);
    }
  };
  config.on_stopped = [main_thread](const std::string& why) {
    agent_log("INFO", "%s; stopping\n", why.c_str());
    pthread_kill(main_thread, SIGUSR2);
  };
  // Bad values (addresses, keys, profile, tags) are usage errors: exit 2 before anything runs.
  if (!net::check_config(config, &error)) {
    agent_log("ERR", "%s\n", error.c_str());
    return kExitUsage;
  }
  net::Agent agent(config, members);
  responder = &agent;
  const std::string rpc_addr = args.get("rpc-addr").value_or("127.0.0.1:7373");
  if (rpc_addr != "off") {
    rpc::ServerConfig rc;
    rc.addr = rpc_addr;
    rc.auth_key = args.get("rpc-auth").value_or("");
    rc.version = HASERF_VERSION;
    rc.on_leave = [main_thread, &left_by_rpc] {
      left_by_rpc = true;
      pthread_kill(main_thread, SIGTERM);
    };
    rc.log = [](const std::string& level, const std::string& line) {
      agent_log(level.c_str(), "%s\n", line.c_str());
    };
    auto server = std::make_unique<rpc::Server>(std::move(rc), agent, members);
    if (server->start(&error)) {
      rpc_server = std::move(server);
    } else if (args.has("rpc-addr")) {
      agent_log("ERR", "%s\n", error.c_str());
      return kExitFailure;
    } else {
      agent_log("WARN", "%s; serving no RPC (serf members etc. cannot reach this agent)\n",
                error.c_str());
    }
  }
  const bool rpc_queries = rpc_server != nullptr;
  if ((handlers && handlers->wants_queries()) || rpc_queries) {
    agent.on_query([&handlers, &rpc_server](const serf::Query& q) {
      if (handlers && handlers->wants_queries()) handlers->query(q);
      if (rpc_server) rpc_server->query(q);
    });
  }
  agent.on_user_event([&out, &handlers, &rpc_server](const serf::UserEvent& e) {
    if (handlers) handlers->user_event(e);
    if (rpc_server) rpc_server->user_event(e);
    emit(out, nlohmann::ordered_json{{"event", "user"},
                                     {"name", e.name},
                                     {"payload", std::string(e.payload.begin(), e.payload.end())},
                                     {"ltime", e.ltime},
                                     {"coalesce", e.coalesce}});
  });
  if (!agent.start(&error)) {
    agent_log("ERR", "%s\n", error.c_str());
    if (rpc_server) rpc_server->stop();  // before the agent and the table it serves go
    return kExitFailure;
  }
  if (rpc_server) {
    g_rpc = rpc_server.get();
    agent_log("INFO", "RPC on %s (port %u)\n", rpc_addr.c_str(), rpc_server->port());
  }
  // After agent.stop(): nothing feeds the RPC server any more.
  auto stop_rpc = [&rpc_server] {
    g_rpc = nullptr;
    if (rpc_server) rpc_server->stop();
  };
  agent_log("INFO", "%s listening on %s (port %u)\n", agent.node_name().c_str(),
            config.bind.c_str(), agent.port());
  if (handlers) handlers->set_self(agent.node_name(), config.tags);
  if (const auto st = agent.status(); !st.notice.empty()) {
    agent_log("INFO", "%s\n", st.notice.c_str());
  }
  if (const auto st = agent.status(); !st.warning.empty()) {
    agent_log("WARN", "%s\n", st.warning.c_str());
  }
  if (!config.allow_sources.empty()) {
    std::string list;
    for (const auto& a : config.allow_sources) list += (list.empty() ? "" : ", ") + a;
    agent_log("INFO", "gossip only from %s (--allow)\n", list.c_str());
  }
  const auto seeds = args.all("join");
  if (!seeds.empty()) {
    agent.join(seeds, [seeds](int joined, const std::string& err) {
      if (joined > 0) {
        agent_log("INFO", "joined %d of %zu\n", joined, seeds.size());
      } else {
        agent_log("INFO", "join failed: %s\n", err.c_str());
      }
    });
  }
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    // Live tag change: --tag values, overridden by the file's current content.
    table::Tags tags = flag_tags;
    if (!tags_file) {
      agent_log("INFO", "SIGHUP ignored (no --tags-file)\n");
    } else if (!read_tags_file(*tags_file, tags, error)) {
      agent_log("INFO", "SIGHUP: %s; tags unchanged\n", error.c_str());
    } else if (!agent.set_tags(tags, &error)) {
      agent_log("INFO", "SIGHUP: %s; tags unchanged\n", error.c_str());
    } else {
      if (handlers) handlers->set_self(agent.node_name(), tags);
      agent_log("INFO", "SIGHUP: tags now from %s (%zu tags)\n", tags_file->c_str(), tags.size());
    }
  }
  if (sig == SIGUSR2) {  // lost a name conflict: serf quits without a leave, exit 1
    if (handlers) handlers->close();
    agent.stop();
    stop_rpc();
    out.close();
    return kExitFailure;
  }
  if (sig == SIGUSR1) {  // retry-join exhausted: alone, nothing to leave (serf exits 1 too)
    if (handlers) handlers->close();
    agent.stop();
    stop_rpc();
    out.close();
    agent_log("INFO", "stopped: no --retry-join address answered\n");
    return kExitFailure;
  }
  const bool leave = !left_by_rpc && (sig == SIGINT ? leave_on_int : leave_on_term);
  if (left_by_rpc) {
    agent_log("INFO", "left the cluster (RPC leave); stopping\n");
  } else if (leave) {
    agent_log("INFO", "%s, leaving the cluster\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  } else {
    agent_log("INFO", "%s, stopping without a leave (the cluster will see a failure)\n",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  const bool left = left_by_rpc ? true : leave ? agent.leave_sync(std::chrono::seconds(10)) : false;
  const auto st = agent.stats();
  if (handlers) {
    handlers->close();  // pending handlers run; one still running after 5 s is killed
    const auto hs = handlers->stats();
    agent_log(
        "INFO",
        "event handlers: %llu runs, %llu failed, %llu query responses, "
        "%llu events dropped\n",
        static_cast<unsigned long long>(hs.invoked), static_cast<unsigned long long>(hs.failed),
        static_cast<unsigned long long>(hs.responses), static_cast<unsigned long long>(hs.dropped));
  }
  agent.stop();
  stop_rpc();
  agent_log("INFO", "%s\n", left ? "left" : leave ? "leave timed out, stopped" : "stopped");
  out.close();
  if (out.dropped() > 0) {
    agent_log("INFO",
              "%llu events not written to stdout (its reader was too slow, "
              "or gone); %llu written\n",
              static_cast<unsigned long long>(out.dropped()),
              static_cast<unsigned long long>(out.written()));
  }
  // What hostile or broken peers sent us, for the operator (and the trap tests).
  agent_log("INFO",
            "dropped %llu packets, %llu messages; refused %llu from sources not allowed; %llu "
            "unsafe for Go peers (never forwarded)%s%s\n",
            static_cast<unsigned long long>(st.memberlist.packets_dropped),
            static_cast<unsigned long long>(st.memberlist.messages_dropped),
            static_cast<unsigned long long>(st.transport.sources_refused),
            static_cast<unsigned long long>(st.memberlist.unsafe_dropped + st.serf.unsafe_dropped),
            st.serf.last_unsafe.empty() ? "" : "; last: ", st.serf.last_unsafe.c_str());
  // Floods and stalls (docs/security.md): only worth a line when something happened.
  if (st.transport.udp_receive_drops + st.transport.streams_evicted + st.transport.streams_timed_out + st.transport.tcp_refused > 0) {
    agent_log("INFO",
              "floods and stalls: the kernel dropped %llu datagrams (receive buffer full); "
              "inbound streams: %llu evicted, %llu timed out, %llu connections refused\n",
              static_cast<unsigned long long>(st.transport.udp_receive_drops),
              static_cast<unsigned long long>(st.transport.streams_evicted),
              static_cast<unsigned long long>(st.transport.streams_timed_out),
              static_cast<unsigned long long>(st.transport.tcp_refused));
  }
  return kExitOk;
}

}  // namespace haserf::cli
