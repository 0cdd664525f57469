// SPDX-License-Identifier: MIT
// core/net snapshot: serf's -snapshot file (format, replay, compaction, hostile files), the
// clocks restored into serf, and real agents rejoining from it (127.0.33.21-29).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <thread>

#include "core/net/agent.hpp"
#include "core/net/snapshot.hpp"
#include "tests/unit/serf_fixture.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace haserf;
using namespace std::chrono_literals;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds bound = 10s) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

net::SnapshotReplay replay(const std::string& text, bool rejoin = false) {
  net::SnapshotReplay r;
  net::replay_snapshot(text, "snap", rejoin, r);
  return r;
}

using Alive = std::map<std::string, std::string>;

}  // namespace

TEST_CASE("snapshot: serf's records replay as serf replays them", "[net][snapshot]") {
  const auto r = replay(
      "# written by a test\n"
      "alive: web1 10.0.0.1:7946\n"
      "alive: gamma node 10.0.0.3:7946\n"  // names may hold spaces: the address is the last word
      "alive: v6 [fd00::1]:7946\n"
      "alive: web2 10.0.0.2:7946\n"
      "clock: 4\n"
      "event-clock: 2\n"
      "query-clock: 7\n"
      "not-alive: web2\n"
      "not-alive: never-seen\n"
      "alive: web1 10.0.0.9:7946\n"    // a later address wins
      "coordinate: {\"Vec\":[0,0]}\n"  // old serf versions: ignored
      "clock: 9\n");
  CHECK(r.alive == Alive{{"web1", "10.0.0.9:7946"},
                         {"gamma node", "10.0.0.3:7946"},
                         {"v6", "[fd00::1]:7946"}});
  CHECK(r.clock == 9);
  CHECK(r.event_clock == 2);
  CHECK(r.query_clock == 7);
  CHECK_FALSE(r.left);
  CHECK(r.malformed == 0);
  CHECK(r.warnings.empty());
  CHECK(net::snapshot_address("10.0.0.1", 7946) == "10.0.0.1:7946");
  CHECK(net::snapshot_address("fd00::1", 7946) == "[fd00::1]:7946");
}

TEST_CASE("snapshot: a leave record forgets members and clocks unless rejoin", "[net][snapshot]") {
  const std::string text =
      "alive: web1 10.0.0.1:7946\n"
      "clock: 5\n"
      "event-clock: 3\n"
      "query-clock: 2\n"
      "leave\n"
      "clock: 6\n";  // serf snapshots the clock at shutdown, after the leave
  auto r = replay(text);
  CHECK(r.alive.empty());
  CHECK(r.left);
  CHECK(r.clock == 6);
  CHECK(r.event_clock == 0);
  CHECK(r.query_clock == 0);
  CHECK_FALSE(r.leave_ignored);

  r = replay(text, true);  // serf's -rejoin
  CHECK(r.alive == Alive{{"web1", "10.0.0.1:7946"}});
  CHECK_FALSE(r.left);
  CHECK(r.leave_ignored);
  CHECK(r.clock == 6);
  CHECK(r.event_clock == 3);

  // A member recorded after the leave (a later run joined by hand) is rejoined again.
  r = replay(text + "alive: web3 10.0.0.3:7946\n");
  CHECK(r.alive == Alive{{"web3", "10.0.0.3:7946"}});
  CHECK_FALSE(r.left);
}

TEST_CASE("snapshot: files written by serf 0.9.4 agents", "[net][snapshot]") {
  net::SnapshotReplay r;
  std::string err;
  // Killed: the members it knew alive are rejoined (gamma node left before).
  REQUIRE(net::read_snapshot_file(HASERF_TEST_DATA "/serf-0.9.4-crash.snapshot", false, r, &err));
  CHECK(r.malformed == 0);
  CHECK(r.alive == Alive{{"alpha", "127.0.33.10:7946"}, {"beta", "127.0.33.11:7946"}});
  CHECK(r.clock == 2);
  CHECK(r.event_clock == 3);
  CHECK(r.query_clock == 1);
  CHECK_FALSE(r.left);

  // Left with `serf leave`: nothing to rejoin, only the clock recorded after the leave.
  r = {};
  REQUIRE(net::read_snapshot_file(HASERF_TEST_DATA "/serf-0.9.4-leave.snapshot", false, r, &err));
  CHECK(r.malformed == 0);
  CHECK(r.alive.empty());
  CHECK(r.left);
  CHECK(r.clock == 3);
  CHECK(r.event_clock == 0);
  r = {};
  REQUIRE(net::read_snapshot_file(HASERF_TEST_DATA "/serf-0.9.4-leave.snapshot", true, r, &err));
  CHECK(r.alive == Alive{{"alpha", "127.0.33.10:7946"}});
  CHECK(r.event_clock == 1);
  CHECK(r.query_clock == 1);
}

TEST_CASE("snapshot: malformed lines are skipped with FILE:LINE and never trusted",
          "[net][snapshot]") {
  TempDir dir;
  const std::string path =
      dir.write("snap",
                "alive: web1 10.0.0.1:7946\n"    // 1 ok
                "alive: nospace\n"               // 2 no address
                "alive: web2 10.0.0.2\n"         // 3 no port
                "alive: web3 db.example:7946\n"  // 4 not an IP (never resolved)
                "alive:  10.0.0.4:7946\n"        // 5 empty name
                "alive: a\x01"
                "b 10.0.0.5:7946\n"                 // 6 control character (docs/go-traps.md SF-6)
                "clock: abc\n"                      // 7
                "clock: -1\n"                       // 8
                "clock: 18446744073709551615\n"     // 9 near the 64-bit wrap (SF-5)
                "event-clock: 12 \n"                // 10 trailing space
                "clock: 99999999999999999999999\n"  // 11 overflow
                "garbage\x7f line\n"                // 12
                "\n"                                // 13 empty: serf warns too
                "Leave\n"                           // 14 case matters
                "clock: 8\r\n"                      // 15 CRLF: serf refuses it too
                "clock: 7\n"                        // 16 ok
                "alive: web9 10.0.0.9:7946");       // 17 cut short: serf skips it too
  net::SnapshotReplay r;
  std::string err;
  REQUIRE(net::read_snapshot_file(path, false, r, &err));
  CHECK(r.alive == Alive{{"web1", "10.0.0.1:7946"}});
  CHECK(r.clock == 7);
  CHECK(r.event_clock == 0);
  CHECK(r.malformed == 15);
  REQUIRE(r.warnings.size() == 15);
  CHECK(r.warnings[0] == path + ":2: alive: no address");
  CHECK(r.warnings[1].starts_with(path + ":3: alive: bad address"));
  CHECK(r.warnings[4] == path + ":6: alive: empty node name or a control character in it");
  CHECK(r.warnings[7] == path + ":9: clock: 18446744073709551615 is near the 64-bit wrap");
  CHECK(r.warnings[10] == path + ":12: unrecognized line 'garbage? line'");
  CHECK(r.warnings[14] == path + ":17: last line has no newline (cut short)");

  // A huge line is skipped without being held in memory; the lines around it count.
  r = {};
  write(path, "clock: 1\n" + std::string(1 << 20, 'x') + "\nclock: 2\n");
  REQUIRE(net::read_snapshot_file(path, false, r, &err));
  CHECK(r.clock == 2);
  CHECK(r.malformed == 1);
  CHECK(r.warnings.at(0) == path + ":2: line longer than 16384 bytes");

  // Warnings are capped; the count is not.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "bad line\n";
  r = replay(many);
  CHECK(r.malformed == 100);
  CHECK(r.warnings.size() == net::SnapshotReplay::kMaxWarnings);

  // A missing file is an empty snapshot; a folder is an error naming it.
  r = {};
  CHECK(net::read_snapshot_file(dir.file("none"), false, r, &err));
  CHECK(r.records == 0);
  CHECK_FALSE(net::read_snapshot_file(dir.path, false, r, &err));
  CHECK(err.starts_with("snapshot " + dir.path + ": "));

  // Random bytes: no crash, no exception, whatever they say.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string junk(rng() % 400, '\0');
    for (auto& c : junk) {
      const auto pick = rng() % 8;
      c = pick == 0 ? '\n' : pick == 1 ? ' ' : pick == 2 ? ':' : static_cast<char>(rng() % 256);
    }
    if (round % 2 == 0) junk = "alive: " + junk;
    CHECK_NOTHROW(replay(junk, round % 3 == 0));
  }
}

TEST_CASE("snapshot: the recorder writes serf's lines and its replay gives them back",
          "[net][snapshot]") {
  TempDir dir;
  const std::string path = dir.file("snap");
  net::SnapshotOptions options;
  options.path = path;
  options.flush_interval = 20ms;
  {
    net::SnapshotRecorder rec(options);
    net::SnapshotReplay start;
    std::string err;
    REQUIRE(rec.open(start, &err));
    CHECK(start.records == 0);
    rec.hold();  // one batch: clocks first, then the members, in order
    rec.alive("web1", "10.0.0.1:7946");
    rec.alive("gamma node", "[fd00::3]:7946");
    rec.alive("web1", "10.0.0.1:7946");  // already alive there: not written again
    rec.clocks(4, 2, 0);
    rec.not_alive("gamma node");
    rec.not_alive("unknown");                 // not alive: nothing to write
    rec.alive("bad\nname", "10.0.0.6:7946");  // would break the file: never written
    rec.resume();
    CHECK(eventually(
        [&] { return read(path).find("not-alive: gamma node\n") != std::string::npos; }));
    rec.clocks(3, 2, 5);  // only what grew is written
    rec.close();
  }
  CHECK(read(path) ==
        "clock: 4\n"
        "event-clock: 2\n"
        "alive: web1 10.0.0.1:7946\n"
        "alive: gamma node [fd00::3]:7946\n"
        "not-alive: gamma node\n"
        "query-clock: 5\n");
  net::SnapshotReplay r;
  std::string err;
  REQUIRE(net::read_snapshot_file(path, false, r, &err));
  CHECK(r.alive == Alive{{"web1", "10.0.0.1:7946"}});
  CHECK(r.clock == 4);
  CHECK(r.event_clock == 2);
  CHECK(r.query_clock == 5);

  // A second run continues the file from what it says: nothing recorded twice.
  {
    net::SnapshotRecorder rec(options);
    net::SnapshotReplay start;
    REQUIRE(rec.open(start, &err));
    CHECK(start.alive == Alive{{"web1", "10.0.0.1:7946"}});
    rec.alive("web1", "10.0.0.1:7946");
    rec.clocks(4, 2, 5);
    rec.alive("web2", "10.0.0.2:7946");
    rec.close();
    CHECK(rec.stats().lines == 1);
  }
  CHECK(read(path).ends_with("query-clock: 5\nalive: web2 10.0.0.2:7946\n"));
}

TEST_CASE("snapshot: leave is written and synced - later members are not recorded",
          "[net][snapshot]") {
  TempDir dir;
  for (const bool rejoin : {false, true}) {
    const std::string path = dir.file(rejoin ? "rejoin" : "plain");
    net::SnapshotOptions options;
    options.path = path;
    options.rejoin_after_leave = rejoin;
    net::SnapshotRecorder rec(options);
    net::SnapshotReplay start;
    std::string err;
    REQUIRE(rec.open(start, &err));
    rec.alive("web1", "10.0.0.1:7946");
    rec.clocks(10, 3, 1);
    rec.leave();
    // Written at once (not after the flush interval): a crash right after still knows.
    CHECK(eventually([&] { return read(path).find("leave\n") != std::string::npos; }, 2s));
    rec.compact();  // unlike serf's, our compaction keeps the leave
    rec.alive("web2", "10.0.0.2:7946");
    rec.not_alive("web1");
    rec.clocks(12, 9, 9);  // the member clock is still recorded, events no longer
    rec.close();
    net::SnapshotReplay r;
    REQUIRE(net::read_snapshot_file(path, false, r, &err));
    INFO(read(path));
    CHECK(r.left);
    CHECK(r.alive.empty());
    CHECK(r.clock == 12);
    CHECK(r.event_clock == 0);
    r = {};
    REQUIRE(net::read_snapshot_file(path, true, r, &err));
    // serf keeps the members through a leave only when it means to rejoin.
    CHECK(r.alive == (rejoin ? Alive{{"web1", "10.0.0.1:7946"}} : Alive{}));
    CHECK(r.event_clock == 3);
  }
}

TEST_CASE("snapshot: compaction past serf's threshold keeps the state", "[net][snapshot]") {
  TempDir dir;
  const std::string path = dir.file("snap");
  net::SnapshotOptions options;
  options.path = path;
  options.min_compact_size = 4096;
  options.flush_interval = 10ms;
  net::SnapshotRecorder rec(options);
  net::SnapshotReplay start;
  std::string err;
  REQUIRE(rec.open(start, &err));
  // Churn: members come and go, clocks move; 20 stay alive.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 20; ++i) {
      rec.alive("node-" + std::to_string(i), "10.0.1." + std::to_string(i) + ":7946");
    }
    for (int i = 10; i < 20; ++i) rec.not_alive("node-" + std::to_string(i));
    rec.clocks(round * 3, round, round / 2);
  }
  rec.clocks(1000, 500, 250);
  CHECK(eventually([&] { return rec.stats().compactions > 0; }));
  // Everything queued is written: serf's 250 ms drain bound is not what this tests, and a
  // loaded machine (CI) may not write 4,000 records within it.
  rec.close(std::chrono::seconds(30));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  // serf's rule: past max(min_compact_size, 2 x 128 bytes x alive members).
  CHECK(st.st_size <= 20 * 256 + 64);
  CHECK_FALSE(std::filesystem::exists(path + ".compact"));
  net::SnapshotReplay r;
  REQUIRE(net::read_snapshot_file(path, false, r, &err));
  CHECK(r.malformed == 0);
  Alive expected;
  for (int i = 0; i < 10; ++i) {
    expected["node-" + std::to_string(i)] = "10.0.1." + std::to_string(i) + ":7946";
  }
  CHECK(r.alive == expected);
  CHECK(r.clock == 1000);
  CHECK(r.event_clock == 500);
  CHECK(r.query_clock == 250);
  CHECK(rec.stats().write_errors == 0);

  // An explicit compaction (after a takeover): exactly the state, in serf's compacted layout.
  net::SnapshotRecorder again(options);
  REQUIRE(again.open(start, &err));
  again.reset_alive();
  again.alive("lb", "10.0.0.1:7946");
  again.compact();
  again.close();
  CHECK(read(path) == "alive: lb 10.0.0.1:7946\nclock: 1000\nevent-clock: 500\nquery-clock: 250\n");
}

TEST_CASE("snapshot: a replaced file is reopened - hold and abandon for handovers",
          "[net][snapshot]") {
  TempDir dir;
  const std::string path = dir.file("snap");
  net::SnapshotOptions options;
  options.path = path;
  options.flush_interval = 10ms;
  std::mutex log_mutex;
  std::vector<std::string> logs;
  options.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    logs.push_back(line);
  };
  net::SnapshotRecorder rec(options);
  net::SnapshotReplay start;
  std::string err;
  REQUIRE(rec.open(start, &err));
  rec.alive("a", "10.0.0.1:7946");
  CHECK(eventually([&] { return read(path) == "alive: a 10.0.0.1:7946\n"; }));
  // Another process (a predecessor's compaction) renamed a new file into place.
  write(path + ".new", "alive: a 10.0.0.1:7946\n");
  REQUIRE(std::rename((path + ".new").c_str(), path.c_str()) == 0);
  rec.alive("b", "10.0.0.2:7946");
  CHECK(eventually([&] { return read(path).ends_with("alive: b 10.0.0.2:7946\n"); }));
  CHECK(rec.stats().reopened == 1);
  // Removed by hand: the whole state is written again, not just the next line.
  REQUIRE(std::remove(path.c_str()) == 0);
  rec.alive("e", "10.0.0.5:7946");
  CHECK(eventually([&] {
    net::SnapshotReplay now;
    std::string e;
    return net::read_snapshot_file(path, false, now, &e) && now.alive.size() == 3;
  }));
  CHECK(rec.stats().reopened == 2);
  rec.not_alive("e");
  CHECK(eventually([&] { return read(path).ends_with("not-alive: e\n"); }));

  rec.hold();  // a successor is taking over: the file is left alone
  rec.alive("c", "10.0.0.3:7946");
  std::this_thread::sleep_for(100ms);
  CHECK(read(path).find("alive: c") == std::string::npos);
  rec.resume();  // the takeover failed: we are still the member
  CHECK(eventually([&] { return read(path).find("alive: c") != std::string::npos; }));
  rec.hold();
  rec.alive("d", "10.0.0.4:7946");
  rec.abandon();  // the successor is the member now
  rec.close();
  CHECK(read(path).find("alive: d") == std::string::npos);

  // A file that cannot be opened: open() says which and why.
  net::SnapshotOptions bad;
  bad.path = dir.file("no/such/folder/snap");
  net::SnapshotRecorder none(bad);
  CHECK_FALSE(none.open(start, &err));
  CHECK(err == "snapshot " + bad.path + ": No such file or directory");
}

TEST_CASE("snapshot: the queue is bounded - records past it are dropped and counted",
          "[net][snapshot]") {
  TempDir dir;
  net::SnapshotOptions options;
  options.path = dir.file("snap");
  options.max_queued = 8;
  net::SnapshotRecorder rec(options);
  net::SnapshotReplay start;
  std::string err;
  REQUIRE(rec.open(start, &err));
  rec.hold();  // nothing drains
  for (int i = 0; i < 20; ++i) rec.alive("n" + std::to_string(i), "10.0.0.1:7946");
  rec.leave();  // control records are never dropped
  CHECK(rec.stats().dropped == 12);
  rec.resume();
  rec.close();
  net::SnapshotReplay r;
  REQUIRE(net::read_snapshot_file(options.path, true, r, &err));
  CHECK(r.alive.size() == 8);
  CHECK(r.leave_ignored);
}

TEST_CASE("snapshot: serf witnesses the recorded clocks and skips older events",
          "[net][snapshot][serf]") {
  serf_test::Harness h;
  h.serf.restore_clocks(41, 9, 4);
  // serf Create: Witness(old) moves each clock past the recorded value.
  CHECK(h.serf.clock() == 42);
  CHECK(h.serf.event_clock() == 10);
  CHECK(h.serf.query_clock() == 5);
  CHECK(h.serf.event_min_time() == 10);
  // An older recorded value never moves a clock back.
  h.serf.restore_clocks(3, 2, 1);
  CHECK(h.serf.clock() == 42);
  CHECK(h.serf.event_min_time() == 10);
  // Events at or before the recorded event clock were handled by the previous run.
  h.serf.notify_msg(serf_test::event_msg("deploy", "old", 9));
  h.serf.notify_msg(serf_test::event_msg("deploy", "new", 10));
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].ltime == 10);
  CHECK(h.serf.last_event_ltime() == 10);
  // Queries likewise; the newest one delivered is what the snapshot records.
  h.serf.notify_msg(serf_test::query_msg(serf_test::query("uptime", 4, 1)));
  h.serf.notify_msg(serf_test::query_msg(serf_test::query("uptime", 6, 2)));
  REQUIRE(h.queries.size() == 1);
  CHECK(h.serf.last_query_ltime() == 6);
}

// ---------------------------------------------------------------------------------------
// real agents on loopback

namespace {

net::AgentConfig agent_config(const std::string& node, const std::string& bind) {
  net::AgentConfig c;
  c.node_name = node;
  c.bind = bind;
  c.profile = "local";
  return c;
}

bool alive_in(const table::MembershipTable& t, const std::string& name) {
  const auto snap = t.snapshot();
  const auto* m = snap->find(name);
  return m != nullptr && m->status == table::MemberStatus::kAlive;
}

table::MemberStatus status_in(const table::MembershipTable& t, const std::string& name) {
  const auto snap = t.snapshot();
  const auto* m = snap->find(name);
  return m ? m->status : table::MemberStatus::kNone;
}

}  // namespace

TEST_CASE(
    "snapshot: an agent killed without leaving rejoins from its snapshot - after a "
    "graceful leave only with rejoin",
    "[net][snapshot]") {
  TempDir dir;
  const std::string path = dir.file("member.snap");
  std::string err;
  table::MembershipTable peer_table;
  net::Agent peer(agent_config("peer", "127.0.33.21:7946"), peer_table);
  REQUIRE(peer.start(&err));

  std::mutex log_mutex;
  std::vector<std::string> logs;
  auto member_config = agent_config("member", "127.0.33.22:7946");
  member_config.snapshot_path = path;
  member_config.on_snapshot_log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    logs.push_back(line);
  };
  const auto logged = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(log_mutex);
    for (const auto& l : logs) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  };

  serf::LamportTime clock_before = 0;
  {
    table::MembershipTable t;
    net::Agent member(member_config, t);
    REQUIRE(member.start(&err));
    REQUIRE(member.join_sync({"127.0.33.21:7946"}, 5s, &err) == 1);
    REQUIRE(eventually([&] { return alive_in(peer_table, "member"); }));
    REQUIRE(member.user_event("deploy", "v1", false, &err));
    CHECK(eventually([&] {
      const auto text = read(path);
      return text.find("alive: peer 127.0.33.21:7946\n") != std::string::npos &&
             text.find("event-clock: ") != std::string::npos;
    }));
    clock_before = member.stats().clocks.member;
    member.stop();  // no leave: as if killed
  }
  {
    // Restarted with no join list: it finds the peer in the snapshot.
    table::MembershipTable t;
    std::vector<std::string> events;
    net::Agent member(member_config, t);
    member.on_user_event([&](const serf::UserEvent& e) { events.push_back(e.name); });
    REQUIRE(member.start(&err));
    CHECK(eventually([&] { return member.status().rejoined == 1; }));
    CHECK(logged("snapshot: rejoined 1 of 1 previous members"));
    CHECK(eventually([&] { return alive_in(t, "peer") && alive_in(peer_table, "member"); }));
    // The recorded clocks were witnessed: no Lamport time of the last run is used again.
    CHECK(eventually([&] { return member.stats().clocks.member >= clock_before; }, 2s));
    CHECK(member.stats().snapshot.malformed == 0);
    // Our own event of the last run is not delivered again by the peer's push/pull.
    std::this_thread::sleep_for(300ms);
    CHECK(events.empty());
    REQUIRE(member.leave_sync(10s));
    member.stop();
  }
  CHECK(eventually([&] { return status_in(peer_table, "member") == table::MemberStatus::kLeft; }));
  {
    auto text = read(path);
    text.erase(text.find_last_not_of('\n') + 1);
    INFO(text);
    CHECK(text.find("\nleave\n") != std::string::npos);
  }
  {
    // Left gracefully: a restart stays alone, as serf's does.
    table::MembershipTable t;
    net::Agent member(member_config, t);
    REQUIRE(member.start(&err));
    std::this_thread::sleep_for(1500ms);
    CHECK(member.status().rejoined == -1);
    CHECK(logged("left the cluster gracefully: no rejoin"));
    CHECK(status_in(peer_table, "member") == table::MemberStatus::kLeft);
    member.stop();
  }
  {
    // serf's -rejoin: the leave is ignored.
    auto rejoin_config = member_config;
    rejoin_config.rejoin = true;
    table::MembershipTable t;
    net::Agent member(rejoin_config, t);
    REQUIRE(member.start(&err));
    CHECK(eventually([&] { return member.status().rejoined == 1; }));
    CHECK(eventually([&] { return alive_in(peer_table, "member"); }));
    member.stop();
  }
  peer.stop();
}

TEST_CASE(
    "snapshot: a successor that takes the member over neither replays nor rejoins but "
    "keeps the file",
    "[net][snapshot][handover]") {
  TempDir dir;
  const std::string path = dir.file("lb.snap");
  // A stale entry the successor must not rejoin (nobody listens there).
  write(path, "alive: ghost 127.0.33.29:7946\nclock: 5\n");
  std::string err;
  table::MembershipTable peer_table, old_table, new_table;
  auto lb_config = agent_config("lb", "127.0.33.23:7946");
  lb_config.handover = net::HandoverPolicy::kSibling;
  lb_config.snapshot_path = path;
  net::Agent old_lb(lb_config, old_table);
  REQUIRE(old_lb.start(&err));
  REQUIRE(eventually([&] { return old_lb.status().phase == net::AgentPhase::kRunning; }));
  CHECK(eventually([&] { return old_lb.status().rejoined == 0; }));  // the ghost is gone
  net::Agent peer(agent_config("peer", "127.0.33.24:7946"), peer_table);
  REQUIRE(peer.start(&err));
  REQUIRE(peer.join_sync({"127.0.33.23:7946"}, 5s, &err) == 1);
  REQUIRE(eventually([&] { return alive_in(old_table, "peer"); }));

  net::Agent new_lb(lb_config, new_table);
  REQUIRE(new_lb.start(&err));
  REQUIRE(eventually([&] { return new_lb.status().phase == net::AgentPhase::kRunning; }));
  CHECK(new_lb.status().took_over_from == ::getpid());
  CHECK(new_lb.status().rejoined == -1);
  CHECK(eventually([&] { return old_lb.status().phase == net::AgentPhase::kHandedOver; }));
  old_lb.stop();
  // The successor compacted the file down to the members it took over.
  CHECK(eventually([&] {
    net::SnapshotReplay r;
    std::string e;
    return net::read_snapshot_file(path, false, r, &e) && r.alive.count("ghost") == 0 &&
           r.alive.count("peer") == 1 && r.alive.count("lb") == 1;
  }));
  // ...and keeps appending.
  peer.stop();
  CHECK(eventually([&] { return read(path).find("not-alive: peer\n") != std::string::npos; }, 20s));
  new_lb.stop();
}
