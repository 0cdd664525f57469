// SPDX-License-Identifier: MIT
// rpc_roundtrip: the agent side of serf's RPC, without a CLI process per call. One connection
// (handshake once), then COUNT `members` (or `stats`) requests one after the other; prints the
// median, p95 and max round trip in ms. Used by bench/rpc_latency.sh against serf agent and
// haserf agent alike.
//
// usage: rpc_roundtrip ADDR COUNT [members|stats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rpc/rpc_client.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: rpc_roundtrip ADDR COUNT [members|stats]\n");
    return 2;
  }
  const std::string addr = argv[1];
  const int count = std::atoi(argv[2]);
  const std::string what = argc > 3 ? argv[3] : "members";
  haserf::rpc::Client client;
  std::string err;
  if (!client.connect(addr, "", std::chrono::seconds(5), &err)) {
    std::fprintf(stderr, "rpc_roundtrip: %s\n", err.c_str());
    return 1;
  }
  std::vector<double> ms;
  std::size_t members = 0;
  for (int i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = false;
    if (what == "stats") {
      std::map<std::string, haserf::wire::rpc::StringMap> stats;
      ok = client.stats(stats, &err);
    } else {
      std::vector<haserf::wire::rpc::RpcMember> list;
      ok = client.members(list, &err);
      members = list.size();
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (!ok) {
      std::fprintf(stderr, "rpc_roundtrip: %s\n", err.c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("median_ms=%.3f\np95_ms=%.3f\nmax_ms=%.3f\nsamples=%zu\nmembers=%zu\n",
              ms[ms.size() / 2], ms[static_cast<std::size_t>(ms.size() * 0.95)], ms.back(),
              ms.size(), members);
  return 0;
}
