// SPDX-License-Identifier: MIT
// haserf query: a Serf query sent by the local agent (RPC) or by a short-lived member; prints
// the acks and responses like `serf query`.
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf query [--rpc-addr IP:PORT | --join IP[:PORT]] [options] NAME [PAYLOAD]\n"
    "\n"
    "Sends a Serf query (like 'serf query') through the local agent over RPC, or with --join\n"
    "as a short-lived member, and prints the acks and responses that arrive before the\n"
    "timeout.\n"
    "Exit 0 once the query ran (even without answers), 1 if it could not be sent.\n"
    "\n"
    "options:\n"
    "      --node-filter NAME  only this node answers (repeatable; serf's -node)\n"
    "      --tag-filter KEY=REGEXP  only nodes whose tag matches (repeatable; serf's -tag)\n"
    "      --no-ack           do not ask for acks\n"
    "      --query-timeout DURATION  how long answers are collected (default: serf's, about\n"
    "                         3 s in small clusters; ms, s, m)\n"
    "  -f, --format FORMAT    text (default) or json (as 'serf query -format=json')\n";

// Acks and responses as they arrive (printed at once in text format), then the summary; the
// same for the RPC path and the short-lived member's (whose callbacks run on its loop).
struct Collected {
  std::mutex mutex;
  bool text = true;
  std::vector<std::string> acks;
  std::vector<std::pair<std::string, std::string>> responses;

  void dispatched(const std::string& name) {
    if (text) std::printf("Query '%s' dispatched\n", name.c_str());
    std::fflush(stdout);
  }
  void ack(const std::string& from) {
    std::lock_guard<std::mutex> lock(mutex);
    acks.push_back(from);
    if (text) std::printf("Ack from '%s'\n", from.c_str());
    std::fflush(stdout);
  }
  void response(const std::string& from, const wire::Bytes& payload) {
    std::lock_guard<std::mutex> lock(mutex);
    responses.emplace_back(from, std::string(payload.begin(), payload.end()));
    if (text)
      std::printf("Response from '%s': %s\n", from.c_str(), responses.back().second.c_str());
    std::fflush(stdout);
  }
  void summary(bool with_acks) {
    std::lock_guard<std::mutex> lock(mutex);
    if (text) {
      if (with_acks) std::printf("Total Acks: %zu\n", acks.size());
      std::printf("Total Responses: %zu\n", responses.size());
      return;
    }
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& x : acks) a.push_back(x);
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    for (const auto& [from, p] : responses) r[from] = p;
    std::printf("%s\n", nlohmann::ordered_json{{"Acks", a}, {"Responses", r}}
                            .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                            .c_str());
  }
};

}  // namespace

int cmd_query(int argc, char** argv) {
  Args args;
  std::string error;
  auto extra = rpc_option_specs();
  extra.insert(extra.end(), {{"node-filter", 0, true, true},
                             {"tag-filter", 0, true, true},
                             {"no-ack", 0, false, false},
                             {"relay-factor", 0, true, false},
                             {"query-timeout", 0, true, false},
                             {"format", 'f', true, false}});
  if (const int rc = parse_member_command("query", kHelp, argc, argv, extra, args); rc >= 0) {
    return rc;
  }
  const auto& pos = args.positional();
  if (pos.empty() || pos.size() > 2) {
    std::fprintf(stderr, "haserf query: needs NAME [PAYLOAD] (see 'haserf query --help')\n");
    return kExitUsage;
  }
  const std::string format = args.get("format").value_or("text");
  if (format != "text" && format != "json") {
    std::fprintf(stderr, "haserf query: --format must be text or json\n");
    return kExitUsage;
  }
  serf::QueryParams params;
  params.request_ack = !args.has("no-ack");
  params.filter_nodes = args.all("node-filter");
  for (const auto& kv : args.all("tag-filter")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "haserf query: --tag-filter '%s' must look like KEY=REGEXP\n",
                   kv.c_str());
      return kExitUsage;
    }
    params.filter_tags.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (auto v = args.get("query-timeout");
      v && (!parse_duration(*v, params.timeout) || params.timeout.count() == 0)) {
    std::fprintf(stderr, "haserf query: --query-timeout must be a positive duration (3s, 500ms)\n");
    return kExitUsage;
  }

  if (auto v = args.get("relay-factor")) {
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 0 || n > 5) {
      std::fprintf(stderr, "haserf query: --relay-factor must be 0 to 5\n");
      return kExitUsage;
    }
    params.relay_factor = static_cast<std::uint8_t>(n);
  }
  auto c = std::make_shared<Collected>();
  c->text = format == "text";
  if (args.all("join").empty()) {
    rpc::Client client;
    if (!rpc_connect("query", args, client)) return kExitFailure;
    wire::rpc::RequestBody req;
    req.name = pos[0];
    const std::string payload = pos.size() > 1 ? pos[1] : "";
    req.payload.assign(payload.begin(), payload.end());
    req.filter_nodes = params.filter_nodes;
    for (const auto& [k, v] : params.filter_tags) req.filter_tags[k] = v;
    req.request_ack = params.request_ack;
    req.relay_factor = params.relay_factor;
    req.timeout_ns = static_cast<std::int64_t>(params.timeout.count()) * 1000000;
    const bool ok = client.query(
        req,
        [&](const wire::rpc::QueryRecord& r) {
          if (r.type == "ack") c->ack(r.from);
          if (r.type == "response") c->response(r.from, r.payload);
        },
        &error, [&] { c->dispatched(pos[0]); });
    if (!ok) {
      std::fprintf(stderr, "haserf query: %s\n", error.c_str());
      return kExitFailure;
    }
    c->summary(params.request_ack);
    return kExitOk;
  }

  table::MembershipTable members;
  int exit_code = kExitOk;
  auto agent = start_transient_member("query", args, members, std::chrono::seconds(10), exit_code);
  if (!agent) return exit_code;
  serf::QueryCallbacks cb;
  // We are a member too and see our own query: our own ack is not the cluster's answer.
  cb.ack = [c, self = agent->node_name()](const std::string& from) {
    if (from != self) c->ack(from);
  };
  cb.response = [c](const std::string& from, const wire::Bytes& payload) {
    c->response(from, payload);
  };
  const bool sent =
      query_and_wait(*agent, pos[0], pos.size() > 1 ? pos[1] : "", params, std::move(cb), error,
                     [c, name = pos[0]] { c->dispatched(name); });
  agent->leave_sync(std::chrono::seconds(8));
  agent->stop();
  if (!sent) {
    std::fprintf(stderr, "haserf query: %s\n", error.c_str());
    return kExitFailure;
  }
  c->summary(params.request_ack);
  return kExitOk;
}

}  // namespace haserf::cli
