// SPDX-License-Identifier: MIT
// haserf render: members (serf JSON, or a live cluster) + mustache template -> config file.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "cli/agent_options.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/heap.hpp"
#include "core/render/render.hpp"
#include "core/table/table.hpp"

namespace haserf::cli {
namespace {

using Ms = std::chrono::milliseconds;

constexpr const char* kHelp =
    "usage: haserf render -t TEMPLATE -m MEMBERS.json [-o OUT] [--data FILE]... [--var K=V]...\n"
    "       haserf render -t TEMPLATE --data FILE... [-o OUT]      (no members: plain mustache)\n"
    "       haserf render -t TEMPLATE --join IP[:PORT] [-o OUT] [--watch [--wait MIN:MAX]\n"
    "                     [--check CMD] [--exec CMD]] [member options]\n"
    "\n"
    "Renders a mustache TEMPLATE (the mustache spec, with mstch) with cluster members and/or\n"
    "JSON data and prints the result, or writes it to OUT. Members come from a file (-m) or\n"
    "from a live cluster joined as a member (--join).\n"
    "\n"
    "options:\n"
    "  -t, --template FILE   mustache template (context: docs/templates.md); partials\n"
    "                        {{> NAME}} are NAME.mustache in --partials folders, then in the\n"
    "                        template's folder\n"
    "  -m, --members FILE    members as printed by 'serf members -format=json', or a JSON\n"
    "                        array of member objects; '-' reads standard input\n"
    "      --data FILE       a JSON object merged into the context (repeatable: later files\n"
    "                        win, objects merge key by key); '-' reads standard input. Without\n"
    "                        members, one --data of any JSON value is the whole context\n"
    "      --var KEY=VALUE   a user variable, as {{KEY}} and {{vars.KEY}} (repeatable)\n"
    "      --partials DIR    a folder searched for partials before the template's (repeatable)\n"
    "      --escape MODE     none (default: config files; values are validated instead) or\n"
    "                        html ({{name}} escapes & \" ' < >, as the mustache spec says)\n"
    "      --strict          a {{name}} that resolves to nothing is an error naming file, line\n"
    "                        and name (sections still test presence)\n"
    "      --missing-partial error|empty\n"
    "                        a partial found nowhere: an error naming file and line (default)\n"
    "                        or the empty string (the mustache spec)\n"
    "  -o, --out FILE        write atomically to FILE (keeps FILE.bak; an identical result\n"
    "                        leaves FILE untouched and says \"unchanged\")\n"
    "  -q, --quiet           no progress lines on stderr\n"
    "      --watch           with --join and -o: keep running, re-render on every membership\n"
    "                        change; SIGHUP re-reads the template, partials and --data files\n"
    "                        (kept as they were if that fails); SIGINT/SIGTERM leave the\n"
    "                        cluster and exit 0\n"
    "      --once            render once and exit (the default without --watch; consul-\n"
    "                        template's -once)\n"
    "      --dry-run         with -o: print what writing OUT would change (diff -u) instead;\n"
    "                        writes nothing, runs no --check or --exec\n"
    "      --wait MIN:MAX    quiescence: render once no change came for MIN, or MAX after the\n"
    "                        first change at the latest (default 100ms:1s; units ms, s)\n"
    "      --check CMD       shell command run on the candidate before it replaces OUT; '{}'\n"
    "                        (and $HASERF_CANDIDATE) is the candidate file. Non-zero: OUT is\n"
    "                        kept, the failure logged (e.g. --check 'haproxy -c -f {}')\n"
    "      --exec CMD        shell command run after OUT changed (e.g. a reload)\n"
    "  -h, --help            this help\n"
    "\n"
    "member options (with --join):\n";

constexpr const char* kHelpTail =
    "\n"
    "Members with a value unsafe in a config line (spaces, quotes, '#', control characters,\n"
    "...) or a port/weight tag that is not a number in range are left out with a warning on\n"
    "stderr (the same validation as HAProxy's slots).\n"
    "\n"
    "exit status: 0 rendered (or unchanged), 1 bad input, failed check or write, 2 usage error\n";

bool read_input(const std::string& path, std::string& out, std::string& error) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  return render::read_file(path, out, &error);
}

struct RenderJob {
  std::shared_ptr<const render::LoadedTemplate> tmpl;  // with its partials, loaded once
  render::Vars vars;
  render::RenderOptions options;
  std::optional<std::string> out;
  std::optional<std::string> check;
  std::optional<std::string> exec;
  bool quiet = false;
  bool dry_run = false;  // --dry-run: print the diff against OUT, write and run nothing
  table::MemberPolicy policy;
};

void log(const RenderJob& job, const char* fmt, const std::string& a, const std::string& b = "") {
  if (job.quiet) return;
  std::fprintf(stderr, fmt, a.c_str(), b.c_str());
}

// The rendered text, warnings and errors reported on stderr; nullopt when the render failed.
std::optional<std::string> render_text(const RenderJob& job, const table::Snapshot* snapshot) {
  auto result = render::render(*job.tmpl, snapshot, job.vars, job.options);
  for (const auto& w : result.warnings) {
    std::fprintf(stderr, "haserf render: warning: %s\n", w.c_str());
  }
  if (!result.ok()) {
    std::fprintf(stderr, "haserf render: %s\n", result.error.c_str());
    return std::nullopt;
  }
  return std::move(result.output);
}

// --dry-run: what writing OUT would change, as `diff -u` prints it (nothing written, no check or
// exec run). Exit 0 whether or not it differs; 1 when the render fails.
int print_diff(const RenderJob& job, const table::Snapshot* snapshot) {
  const auto output = render_text(job, snapshot);
  if (!output) return kExitFailure;
  std::string current, error;
  const bool exists = render::read_file(*job.out, current, &error);
  if (exists && current == *output) {
    log(job, "haserf render: dry run: %s unchanged\n", *job.out);
    return kExitOk;
  }
  char path[] = "/tmp/haserf-dry-run-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    std::fprintf(stderr, "haserf render: dry run: cannot make a temporary file\n");
    return kExitFailure;
  }
  const bool written =
      ::write(fd, output->data(), output->size()) == static_cast<ssize_t>(output->size());
  ::close(fd);
  int rc = kExitFailure;
  if (written) {
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string old_label = *job.out + (exists ? "" : " (missing)");
      const std::string new_label = *job.out + " (rendered)";
      ::execlp("diff", "diff", "-u", "--label", old_label.c_str(), "--label", new_label.c_str(),
               exists ? job.out->c_str() : "/dev/null", path, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) <= 1) {
      rc = kExitOk;  // 0 same, 1 different: both fine here
      log(job, "haserf render: dry run: the diff above is what writing %s would change\n",
          *job.out);
    } else {
      std::fprintf(stderr, "haserf render: dry run: diff failed (is diffutils installed?)\n");
    }
  }
  ::unlink(path);
  return rc;
}

// One render (to stdout, or through render_to_file's check/write/exec). Returns an exit code.
// `snapshot` null: no members (--data alone).
int render_once(const RenderJob& job, const table::Snapshot* snapshot) {
  if (!job.out) {
    const auto output = render_text(job, snapshot);
    if (!output) return kExitFailure;
    std::fwrite(output->data(), 1, output->size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
  }
  if (job.dry_run) return print_diff(job, snapshot);
  render::PipelineJob pipeline{
      job.tmpl, job.vars, job.options, *job.out, job.check.value_or(""), job.exec.value_or("")};
  const auto result = render::render_to_file(pipeline, snapshot);
  for (const auto& w : result.warnings) {
    std::fprintf(stderr, "haserf render: warning: %s\n", w.c_str());
  }
  if (!result.ok()) {
    std::fprintf(stderr, "haserf render: %s\n", result.message.c_str());
    return kExitFailure;
  }
  log(job, "haserf render: %s\n", result.message);
  return kExitOk;
}

// --join: a live member feeds the table; with --watch, re-render on quiet changes.
// `reload` re-reads the template, partials and --data files into a job (SIGHUP); false with
// a message keeps the running job.
using ReloadFn = std::function<bool(RenderJob&, std::string&)>;

int render_live(RenderJob job, const Args& args, bool watch, Ms wait_min, Ms wait_max,
                const ReloadFn& reload) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  bool pending = false;
  bool reload_requested = false;
  std::chrono::steady_clock::time_point first_change, last_change;

  table::MembershipTable members;
  members.set_policy(job.policy);
  int exit_code = kExitOk;
  auto agent = start_transient_member("render", args, members, std::chrono::seconds(10), exit_code);
  if (!agent) return exit_code;
  // Everyone except ourselves: a rendering member is not a backend.
  auto view = [&] {
    std::vector<table::MemberPtr> others;
    auto snap = members.snapshot();
    for (const auto& m : snap->members()) {
      if (m->name != agent->node_name()) others.push_back(m);
    }
    return table::Snapshot(snap->version(), std::move(others));
  };
  const auto first = view();
  int rc = render_once(job, &first);
  if (!watch) {
    agent->leave_sync(std::chrono::seconds(8));
    agent->stop();
    return rc;
  }

  members.subscribe([&](const table::ChangeEvent&) {
    std::lock_guard<std::mutex> lock(mutex);
    last_change = std::chrono::steady_clock::now();
    if (!pending) first_change = last_change;
    pending = true;
    wake.notify_all();
  });
  std::thread signal_thread([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0) {
      std::lock_guard<std::mutex> lock(mutex);
      if (sig == SIGHUP) {
        reload_requested = true;
        wake.notify_all();
        continue;
      }
      stop = true;
      wake.notify_all();
      return;
    }
  });
  std::unique_lock<std::mutex> lock(mutex);
  while (!stop) {
    if (reload_requested) {
      // consul-template's SIGHUP: template, partials and data read again, then a render.
      reload_requested = false;
      lock.unlock();
      RenderJob candidate = job;
      std::string error;
      if (reload(candidate, error)) {
        job = std::move(candidate);
        log(job, "haserf render: SIGHUP: %s re-read; rendering\n", "template, partials and data");
        const auto snapshot = view();
        render_once(job, &snapshot);
      } else {
        std::fprintf(stderr, "haserf render: SIGHUP: %s; keeping the previous template and data\n",
                     error.c_str());
      }
      lock.lock();
      continue;
    }
    if (!pending) {
      wake.wait(lock);
      continue;
    }
    const auto due = std::min(last_change + wait_min, first_change + wait_max);
    if (std::chrono::steady_clock::now() < due) {
      wake.wait_until(lock, due);
      continue;
    }
    pending = false;
    lock.unlock();
    const auto snapshot = view();
    render_once(job, &snapshot);  // failures are logged; keep watching
    lock.lock();
  }
  lock.unlock();
  log(job, "haserf render: %s, leaving the cluster\n", "signal");
  agent->leave_sync(std::chrono::seconds(8));
  agent->stop();
  signal_thread.join();
  return kExitOk;
}

}  // namespace

int cmd_render(int argc, char** argv) {
  Args args;
  std::string error;
  std::vector<OptionSpec> specs = {
      {"template", 't', true, false},
      {"members", 'm', true, false},
      {"out", 'o', true, false},
      {"var", 0, true, true},
      {"quiet", 'q', false, false},
      {"watch", 0, false, false},
      {"once", 0, false, false},
      {"dry-run", 0, false, false},
      {"wait", 0, true, false},
      {"check", 0, true, false},
      {"exec", 0, true, false},
      {"port-tag", 0, true, false},
      {"weight-tag", 0, true, false},
      {"require-port", 0, false, false},
      {"data", 0, true, true},
      {"partials", 0, true, true},
      {"escape", 0, true, false},
      {"strict", 0, false, false},
      {"missing-partial", 0, true, false},
  };
  for (const auto& s : agent_option_specs()) specs.push_back(s);
  if (!args.parse(argc, argv, 2, specs, error)) {
    std::fprintf(stderr, "haserf render: %s (see 'haserf render --help')\n", error.c_str());
    return kExitUsage;
  }
  if (args.help()) {
    std::printf("%s%s%s%s", kHelp, kAgentOptionsHelp, kHelpTail,
                env_help("HASERF_RENDER_", "HASERF_RENDER_TEMPLATE").c_str());
    return kExitOk;
  }
  // HASERF_RENDER_*, not the glue's HASERF_* (HAProxy's environment: see cmd_members). A
  // source on the command line (-m or --join) outranks the other from the environment.
  if (!args.add_environment("HASERF_RENDER_", specs, {{"members", "join"}}, std::getenv, error)) {
    std::fprintf(stderr, "haserf render: %s\n", error.c_str());
    return kExitUsage;
  }
  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "haserf render: %s (see 'haserf render --help')\n", msg.c_str());
    return kExitUsage;
  };
  if (!args.positional().empty())
    return usage("unexpected argument '" + args.positional().front() + "'");
  const auto template_path = args.get("template");
  const auto members_path = args.get("members");
  const bool live = args.has("join");
  if (!template_path) return usage("-t/--template is required");
  const auto data_paths = args.all("data");
  if (!members_path && !live && data_paths.empty())
    return usage("-m/--members, --join or --data is required");
  if (members_path && live) return usage("-m and --join are alternatives: give one");
  if (!live) prefer_large_heap_pages();  // one-shot: see cli/heap.hpp
  const bool watch = args.has("watch");
  if (watch && args.has("once")) return usage("--once and --watch are alternatives");
  if (watch && (!live || !args.has("out"))) return usage("--watch needs --join and -o");
  if (args.has("dry-run") && !args.has("out")) {
    return usage("--dry-run needs -o (it prints what writing OUT would change)");
  }
  if (!watch && args.has("wait")) return usage("--wait only applies to --watch");

  Ms wait_min(100), wait_max(1000);
  if (auto w = args.get("wait")) {
    const auto colon = w->find(':');
    if (colon == std::string::npos || !parse_duration(w->substr(0, colon), wait_min) ||
        !parse_duration(w->substr(colon + 1), wait_max) || wait_max < wait_min) {
      return usage("--wait must look like MIN:MAX, e.g. 100ms:1s, with MIN <= MAX");
    }
  }

  {
    int stdin_users = 0;
    for (const auto& p : data_paths) stdin_users += p == "-";
    stdin_users += members_path == std::optional<std::string>("-");
    stdin_users += *template_path == "-";
    if (stdin_users > 1) return usage("only one of -t, -m and --data can read standard input");
  }

  RenderJob job;
  job.out = args.get("out");
  job.check = args.get("check");
  job.exec = args.get("exec");
  job.quiet = args.has("quiet");
  job.dry_run = args.has("dry-run");
  if (auto t = args.get("port-tag")) job.policy.port_tag = *t;
  if (auto t = args.get("weight-tag")) job.policy.weight_tag = *t;
  job.policy.require_port = args.has("require-port");
  if (job.policy.require_port && job.policy.port_tag.empty()) {
    return usage("--require-port needs a --port-tag");
  }
  if ((job.check || job.exec) && !job.out) return usage("--check and --exec need -o");
  render::TemplateOptions template_options;
  template_options.partial_dirs = args.all("partials");
  template_options.search_template_dir = *template_path != "-";
  if (auto m = args.get("missing-partial")) {
    if (*m != "error" && *m != "empty") return usage("--missing-partial must be error or empty");
    template_options.missing_partial_is_error = *m == "error";
  }
  if (auto e = args.get("escape")) {
    if (*e != "none" && *e != "html") return usage("--escape must be none or html");
    job.options.escape = *e == "html" ? render::Escape::kHtml : render::Escape::kNone;
  }
  job.options.strict = args.has("strict");
  const bool with_members = members_path || live;
  const auto& reserved = render::reserved_context_names();
  for (const auto& kv : args.all("var")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage("--var '" + kv + "' must look like KEY=VALUE");
    const std::string key = kv.substr(0, eq);
    if (with_members && std::find(reserved.begin(), reserved.end(), key) != reserved.end()) {
      return usage("--var name '" + key + "' is reserved by the template context");
    }
    job.vars[key] = kv.substr(eq + 1);
  }
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "haserf render: %s\n", msg.c_str());
    return kExitFailure;
  };
  // --data files, then the template and its partials: read at start and again on SIGHUP
  // (--watch). Checked before joining anything: a typo should not cost a cluster round trip.
  const ReloadFn load_sources = [&](RenderJob& into, std::string& err) {
    into.options.data.reset();
    if (!data_paths.empty()) {
      auto data = std::make_shared<nlohmann::json>();
      for (const auto& path : data_paths) {
        std::string text;
        if (!read_input(path, text, err)) return false;
        nlohmann::json one;
        if (!render::parse_data(text, path == "-" ? "<stdin>" : path, one, err)) return false;
        if (data_paths.size() > 1 && !one.is_object()) {
          err = path + ": with several --data files each must be a JSON object";
          return false;
        }
        render::merge_data(*data, std::move(one));
      }
      if ((with_members || !into.vars.empty()) && !data->is_object()) {
        err = data_paths.front() + ": must be a JSON object when members or --var are rendered too";
        return false;
      }
      if (with_members) {
        for (const auto& name : reserved) {
          if (data->contains(name)) {
            err = data_paths.front() + ": key '" + name +
                  "' is reserved by the template context when members are rendered";
            return false;
          }
        }
      }
      into.options.data = std::move(data);
    }
    std::string template_text;
    if (!read_input(*template_path, template_text, err)) return false;
    auto loaded =
        render::load_template(std::move(template_text),
                              *template_path == "-" ? "<stdin>" : *template_path, template_options);
    if (!loaded.ok()) {
      err = loaded.error;
      return false;
    }
    into.tmpl = std::move(loaded.tmpl);
    return true;
  };
  if (!load_sources(job, error)) return fail(error);
  // Standard input cannot be read twice: a SIGHUP then says so and keeps what it has.
  bool from_stdin = *template_path == "-";
  for (const auto& p : data_paths) from_stdin = from_stdin || p == "-";
  const ReloadFn reload = [&](RenderJob& into, std::string& err) {
    if (from_stdin) {
      err = "a source is standard input, which cannot be read again";
      return false;
    }
    return load_sources(into, err);
  };
  if (live) return render_live(std::move(job), args, watch, wait_min, wait_max, reload);
  if (!members_path) return render_once(job, nullptr);

  std::string members_text;
  if (!read_input(*members_path, members_text, error)) {
    std::fprintf(stderr, "haserf render: %s\n", error.c_str());
    return kExitFailure;
  }
  auto parsed =
      table::parse_members_json(members_text, *members_path == "-" ? "<stdin>" : *members_path);
  if (!parsed.ok()) {
    std::fprintf(stderr, "haserf render: %s\n", parsed.error.c_str());
    return kExitFailure;
  }
  std::string().swap(members_text);  // its memory serves the render (cli/heap.hpp)
  const auto snapshot = table::snapshot_of(std::move(parsed.members), job.policy);
  const int rc = render_once(job, &snapshot);
  // One-shot: the output is flushed and any file written and closed. Freeing 100,000 members
  // one by one would take a tenth of the run; the process's exit frees them at once.
  std::fflush(nullptr);
  std::_Exit(rc);
}

}  // namespace haserf::cli
