// haserf render: members (serf JSON) + mustache template -> config file.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "core/render/render.hpp"
#include "core/table/table.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf render -t TEMPLATE -m MEMBERS.json [-o OUT] [--var KEY=VALUE]...\n"
    "\n"
    "Renders a mustache TEMPLATE with the cluster members in MEMBERS.json and prints the\n"
    "result, or writes it to OUT.\n"
    "\n"
    "options:\n"
    "  -t, --template FILE   mustache template (context: docs/templates.md)\n"
    "  -m, --members FILE    members as printed by 'serf members -format=json', or a JSON\n"
    "                        array of member objects; '-' reads standard input\n"
    "  -o, --out FILE        write atomically to FILE (keeps FILE.bak; an identical result\n"
    "                        leaves FILE untouched and says \"unchanged\")\n"
    "      --var KEY=VALUE   a user variable, as {{KEY}} and {{vars.KEY}} (repeatable)\n"
    "  -q, --quiet           no progress line on stderr\n"
    "  -h, --help            this help\n"
    "\n"
    "Members with a value unsafe in a config line (spaces, quotes, '#', control characters,\n"
    "...) are left out with a warning on stderr.\n"
    "\n"
    "exit status: 0 rendered (or unchanged), 1 bad input or write failure, 2 usage error\n";

bool read_input(const std::string& path, std::string& out, std::string& error) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  return render::read_file(path, out, &error);
}

}  // namespace

int cmd_render(int argc, char** argv) {
  Args args;
  std::string error;
  const std::vector<OptionSpec> specs = {
      {"template", 't', true, false}, {"members", 'm', true, false}, {"out", 'o', true, false},
      {"var", 0, true, true},         {"quiet", 'q', false, false},
  };
  if (!args.parse(argc, argv, 2, specs, error)) {
    std::fprintf(stderr, "haserf render: %s (see 'haserf render --help')\n", error.c_str());
    return kExitUsage;
  }
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (!args.positional().empty()) {
    std::fprintf(stderr, "haserf render: unexpected argument '%s'\n",
                 args.positional().front().c_str());
    return kExitUsage;
  }
  const auto template_path = args.get("template");
  const auto members_path = args.get("members");
  if (!template_path || !members_path) {
    std::fprintf(stderr, "haserf render: %s is required (see 'haserf render --help')\n",
                 !template_path ? "-t/--template" : "-m/--members");
    return kExitUsage;
  }

  render::Vars vars;
  const auto& reserved = render::reserved_context_names();
  for (const auto& kv : args.all("var")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "haserf render: --var '%s' must look like KEY=VALUE\n", kv.c_str());
      return kExitUsage;
    }
    const std::string key = kv.substr(0, eq);
    if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) {
      std::fprintf(stderr, "haserf render: --var name '%s' is reserved by the template context\n",
                   key.c_str());
      return kExitUsage;
    }
    vars[key] = kv.substr(eq + 1);
  }

  std::string template_text, members_text;
  if (!read_input(*template_path, template_text, error) ||
      !read_input(*members_path, members_text, error)) {
    std::fprintf(stderr, "haserf render: %s\n", error.c_str());
    return kExitFailure;
  }
  const std::string members_source = *members_path == "-" ? "<stdin>" : *members_path;
  auto parsed = table::parse_members_json(members_text, members_source);
  if (!parsed.ok()) {
    std::fprintf(stderr, "haserf render: %s\n", parsed.error.c_str());
    return kExitFailure;
  }
  table::MembershipTable members;
  members.replace_all(std::move(parsed.members));
  const auto snapshot = members.snapshot();

  auto result = render::render(template_text, *template_path, *snapshot, vars);
  for (const auto& w : result.warnings) std::fprintf(stderr, "haserf render: warning: %s\n", w.c_str());
  if (!result.ok()) {
    std::fprintf(stderr, "haserf render: %s\n", result.error.c_str());
    return kExitFailure;
  }

  const auto out = args.get("out");
  if (!out) {
    std::fwrite(result.output.data(), 1, result.output.size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
  }
  const auto written = render::write_file_atomic(*out, result.output);
  const bool quiet = args.has("quiet");
  switch (written.outcome) {
    case render::WriteOutcome::kUnchanged:
      if (!quiet) std::fprintf(stderr, "haserf render: %s unchanged\n", out->c_str());
      return kExitOk;
    case render::WriteOutcome::kWritten:
      if (!quiet) {
        std::fprintf(stderr, "haserf render: wrote %s (%zu members, %zu left out%s)\n",
                     out->c_str(), snapshot->size() - result.excluded, result.excluded,
                     written.in_place ? ", in place: rename not possible" : "");
      }
      return kExitOk;
    case render::WriteOutcome::kFailed:
      break;
  }
  std::fprintf(stderr, "haserf render: %s\n", written.error.c_str());
  return kExitFailure;
}

}  // namespace haserf::cli
