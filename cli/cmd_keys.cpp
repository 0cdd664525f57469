// SPDX-License-Identifier: MIT
// haserf keys: serf keys' job: install, use, remove or list gossip keys on every member,
// through serf's internal key queries, sent by the local agent (RPC) or by a short-lived member.
#include <condition_variable>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <mutex>

#include "cli/agent_options.hpp"
#include "cli/commands.hpp"
#include "core/wire/crypto.hpp"
#include "core/serf/key_manager.hpp"

namespace haserf::cli {
namespace {

constexpr const char* kHelp =
    "usage: haserf keys [--rpc-addr IP:PORT] [--rpc-auth KEY]\n"
    "                   (--install KEY | --use KEY | --remove KEY | --list)\n"
    "       haserf keys --join IP[:PORT] --encrypt KEY|--keyring-file F\n"
    "                   (--install KEY | --use KEY | --remove KEY | --list)\n"
    "\n"
    "Changes or lists the gossip keys of every member, as 'serf keys' does: asks the local\n"
    "agent (haserf agent or serf agent) over RPC, which asks everyone with serf's key queries;\n"
    "with --join, joins as a short-lived member (with a key the cluster knows) and asks\n"
    "itself. Prints what the members answered. Exit 1 unless every member reported success.\n"
    "A full rotation: --install NEW, --use NEW, --remove OLD.\n"
    "\n"
    "options:\n"
    "      --install KEY      add KEY (base64) to every keyring\n"
    "      --use KEY          make KEY the primary (encrypting) key everywhere\n"
    "      --remove KEY       remove KEY everywhere (not the primary)\n"
    "      --list             list the keys and how many members have each\n"
    "      --timeout SECONDS  give up waiting for the agent after this long (default 30)\n";

const std::map<std::string, std::pair<const char*, const char*>> kWords = {
    {"install", {"Installing key on all members...", "installing key"}},
    {"use", {"Changing primary key on all members...", "changing primary key"}},
    {"remove", {"Removing key on all members...", "removing key"}},
    {"list", {"Asking all members for installed keys...", "listing keys"}}};

const std::map<std::string, const char*> kDone = {{"install", "Successfully installed key!"},
                                                  {"use", "Successfully changed primary key!"},
                                                  {"remove", "Successfully removed key!"}};

// The RPC path: the agent runs the queries and adds the answers up (serf's KeyResponse).
int keys_over_rpc(const Args& args, const std::string& op, const std::string& key_text,
                  int timeout_s) {
  rpc::Client client;
  if (!rpc_connect("keys", args, client, std::chrono::seconds(timeout_s))) return kExitFailure;
  std::printf("==> %s\n", kWords.at(op).first);
  std::fflush(stdout);
  wire::rpc::KeyResponse r;
  std::string error;
  const bool ok = client.keys(op == "list" ? "list-keys" : op + "-key", key_text, r, &error);
  for (const auto& [node, message] : r.messages) {
    std::printf("failed:  %s  %s\n", node.c_str(), message.c_str());
  }
  if (!ok) {
    std::fprintf(stderr, "\nError %s: %s\n", kWords.at(op).second, error.c_str());
    return kExitFailure;
  }
  if (op == "list") {
    std::printf("==> Keys gathered, listing cluster keys...\n\n");
    if (r.keys) {
      for (const auto& [k, n] : *r.keys) std::printf("%s  [%d/%d]\n", k.c_str(), n, r.num_nodes);
    }
  } else {
    std::printf("==> %s\n", kDone.at(op));
  }
  return kExitOk;
}

struct Collected {
  std::mutex mutex;
  std::map<std::string, serf::KeyAnswer> answers;  // by node
};

}  // namespace

int cmd_keys(int argc, char** argv) {
  Args args;
  std::string error;
  auto specs = rpc_option_specs();
  specs.push_back({"install", 0, true, false});
  specs.push_back({"use", 0, true, false});
  specs.push_back({"remove", 0, true, false});
  specs.push_back({"list", 0, false, false});
  specs.push_back({"timeout", 0, true, false});
  if (const int rc = parse_member_command("keys", kHelp, argc, argv, specs, args); rc >= 0) {
    return rc;
  }
  std::string op, key_text;
  int ops = 0;
  for (const char* o : {"install", "use", "remove", "list"}) {
    if (args.has(o)) {
      ++ops;
      op = o;
      key_text = args.get(o).value_or("");
    }
  }
  if (ops != 1 || !args.positional().empty()) {
    std::fprintf(stderr,
                 "haserf keys: needs one of --install/--use/--remove KEY or --list "
                 "(see 'haserf keys --help')\n");
    return kExitUsage;
  }
  int timeout_s = 30;
  if (auto t = args.get("timeout")) {
    timeout_s = std::atoi(t->c_str());
    if (timeout_s <= 0) {
      std::fprintf(stderr, "haserf keys: --timeout must be a positive number of seconds\n");
      return kExitUsage;
    }
  }
  if (op != "list") {
    wire::Bytes check;
    if (!wire::parse_key_base64(key_text, check, &error)) {
      std::fprintf(stderr, "haserf keys: --%s: %s\n", op.c_str(), error.c_str());
      return kExitUsage;
    }
  }
  if (args.all("join").empty()) return keys_over_rpc(args, op, key_text, timeout_s);
  if (!args.has("encrypt") && !args.has("keyring-file")) {
    std::fprintf(stderr,
                 "haserf keys: give --encrypt or --keyring-file: a key the cluster knows\n");
    return kExitUsage;
  }
  const serf::KeyOp key_op = op == "install" ? serf::KeyOp::kInstall
                            : op == "use"     ? serf::KeyOp::kUse
                            : op == "remove"  ? serf::KeyOp::kRemove
                                              : serf::KeyOp::kList;
  wire::Bytes key;
  if (key_op != serf::KeyOp::kList && !wire::parse_key_base64(key_text, key, &error)) {
    std::fprintf(stderr, "haserf keys: --%s: %s\n", op.c_str(), error.c_str());
    return kExitUsage;
  }
  const wire::Bytes payload = serf::key_query_payload(key_op, key);

  table::MembershipTable members;
  int exit_code = kExitOk;
  // For --install and --use, we hold the key too: after a --use, the others answer with it.
  std::vector<std::string> extra;
  if (op == "install" || op == "use") extra.push_back(key_text);
  auto agent =
      start_transient_member("keys", args, members, std::chrono::seconds(10), exit_code, extra);
  if (!agent) return exit_code;
  std::printf("==> %s\n", kWords.at(op).first);
  std::fflush(stdout);
  auto c = std::make_shared<Collected>();
  serf::QueryCallbacks cb;
  cb.response = [c](const std::string& from, const wire::Bytes& p) {
    serf::KeyAnswer a;
    if (!serf::decode_key_answer(p, a)) a.message = "undecodable key response";
    std::lock_guard<std::mutex> lock(c->mutex);
    c->answers[from] = std::move(a);
  };
  const bool sent = query_and_wait(*agent, serf::key_query_name(key_op), std::string(payload.begin(), payload.end()), {},
                                   std::move(cb), error);
  const std::size_t num_nodes = agent->stats().members;  // memberlist's count, us included
  agent->leave_sync(std::chrono::seconds(8));
  agent->stop();
  std::lock_guard<std::mutex> lock(c->mutex);
  if (!sent) {
    std::fprintf(stderr, "haserf keys: %s\n", error.c_str());
    return kExitFailure;
  }
  std::size_t failed = 0;
  std::map<std::string, int> key_counts, primary_counts;
  for (const auto& [node, a] : c->answers) {
    if (!a.result) {
      ++failed;
      std::printf("failed:  %s  %s\n", node.c_str(), a.message.c_str());
      continue;
    }
    for (const auto& k : a.keys) ++key_counts[k];
    if (!a.primary.empty()) ++primary_counts[a.primary];
  }
  const std::size_t nodes = std::max(num_nodes, c->answers.size());
  if (c->answers.size() < nodes) {
    std::string silent;
    for (const auto& m : members.snapshot()->members()) {
      if (m->status == table::MemberStatus::kAlive && c->answers.count(m->name) == 0) {
        silent += (silent.empty() ? "" : ", ") + m->name;
      }
    }
    if (!silent.empty()) std::printf("no answer:  %s\n", silent.c_str());
  }
  if (failed > 0 || c->answers.size() != nodes) {
    std::fprintf(stderr, "\nError %s: %zu/%zu nodes reported %s\n", kWords.at(op).second,
                 failed > 0 ? failed : c->answers.size(), nodes,
                 failed > 0 ? "failure" : "success");
    return kExitFailure;
  }
  if (op == "list") {
    std::printf("==> Keys gathered, listing cluster keys...\n\n");
    for (const auto& [k, n] : key_counts) std::printf("%s  [%d/%zu]\n", k.c_str(), n, nodes);
    std::printf("\n==> Primary keys:\n");
    for (const auto& [k, n] : primary_counts) std::printf("%s  [%d/%zu]\n", k.c_str(), n, nodes);
  } else {
    std::printf("==> %s\n", kDone.at(op));
  }
  return kExitOk;
}

}  // namespace haserf::cli
