// haserf keys: serf keys' job from a short-lived member: install, use, remove or list gossip
// keys on every member, through serf's internal key queries.
#include <condition_variable>
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
    "usage: haserf keys --join IP[:PORT] --encrypt KEY|--keyring-file F\n"
    "                   (--install KEY | --use KEY | --remove KEY | --list)\n"
    "\n"
    "Changes or lists the gossip keys of every member, as 'serf keys' does: joins as a\n"
    "short-lived member (with a key the cluster knows), asks everyone with serf's key queries,\n"
    "prints what they answered, leaves. Exit 1 unless every member reported success.\n"
    "A full rotation: --install NEW, --use NEW, --remove OLD.\n"
    "\n"
    "options:\n"
    "      --install KEY      add KEY (base64) to every keyring\n"
    "      --use KEY          make KEY the primary (encrypting) key everywhere\n"
    "      --remove KEY       remove KEY everywhere (not the primary)\n"
    "      --list             list the keys and how many members have each\n";

struct Collected {
  std::mutex mutex;
  std::map<std::string, serf::KeyAnswer> answers;  // by node
};

}  // namespace

int cmd_keys(int argc, char** argv) {
  Args args;
  std::string error;
  if (const int rc = parse_member_command("keys", kHelp, argc, argv,
                                          {{"install", 0, true, false},
                                           {"use", 0, true, false},
                                           {"remove", 0, true, false},
                                           {"list", 0, false, false}},
                                          args);
      rc >= 0) {
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
  if (ops != 1 || args.all("join").empty() || !args.positional().empty()) {
    std::fprintf(stderr,
                 "haserf keys: needs --join and one of --install/--use/--remove KEY or --list "
                 "(see 'haserf keys --help')\n");
    return kExitUsage;
  }
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
  static const std::map<std::string, std::pair<const char*, const char*>> kWords = {
      {"install", {"Installing key on all members...", "installing key"}},
      {"use", {"Changing primary key on all members...", "changing primary key"}},
      {"remove", {"Removing key on all members...", "removing key"}},
      {"list", {"Asking all members for installed keys...", "listing keys"}}};
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
    static const std::map<std::string, const char*> kDone = {
        {"install", "Successfully installed key!"},
        {"use", "Successfully changed primary key!"},
        {"remove", "Successfully removed key!"}};
    std::printf("==> %s\n", kDone.at(op));
  }
  return kExitOk;
}

}  // namespace haserf::cli
