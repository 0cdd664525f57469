// SPDX-License-Identifier: MIT
// Shared test scaffolding for the serf_*_test.cpp files: a fake memberlist, a manual clock,
// a table with a change log, and message builders.
#pragma once

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/serf/serf.hpp"
#include "core/wire/codec.hpp"

namespace serf_test {

using namespace haserf;
using namespace std::chrono_literals;
using wire::Bytes;

inline Bytes hex(const std::string& s) {
  Bytes out;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) out.push_back(static_cast<std::uint8_t>(std::stoul(tok, nullptr, 16)));
  return out;
}

inline Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

inline swim::NodeInfo node(const std::string& name, std::uint8_t ip_last,
                           const wire::Tags& tags = {}) {
  swim::NodeInfo n;
  n.name = name;
  n.addr = {10, 0, 0, ip_last};
  n.port = 7946;
  n.meta = wire::encode_tags(tags);
  n.vsn = wire::kOurVsn;
  n.incarnation = 1;
  return n;
}

struct FakeMemberlist : swim::MemberlistApi {
  struct Sent {
    swim::Address to;
    Bytes msg;
  };
  swim::NodeInfo self = node("cpp1", 2);
  std::vector<Sent> sent;
  std::vector<swim::Address> joins;
  int meta_updates = 0;

  swim::NodeInfo local_node() const override { return self; }
  std::vector<swim::NodeInfo> nodes() const override { return {self}; }
  std::size_t num_members() const override { return 1; }
  void send_to_address(const swim::Address& to, std::span<const std::uint8_t> msg) override {
    sent.push_back(Sent{to, Bytes(msg.begin(), msg.end())});
  }
  void update_node_meta() override { ++meta_updates; }
  void join_address(const swim::Address& to, std::function<void(bool)> done) override {
    joins.push_back(to);
    if (done) done(true);
  }
};

inline serf::Config config(const std::string& name = "cpp1", const wire::Tags& tags = {}) {
  serf::Config c;
  c.node_name = name;
  c.tags = tags;
  return c;
}

// One serf node ("cpp1" by default) attached to a fake memberlist, already told about itself.
struct Harness {
  swim::TimerQueue timers{swim::TimePoint{}, 42};
  table::MembershipTable table;
  std::vector<table::ChangeEvent> changes;
  FakeMemberlist ml;
  serf::Serf serf;
  std::vector<serf::UserEvent> events;
  std::vector<serf::Query> queries;

  explicit Harness(serf::Config c = config()) : serf(c, table, timers) {
    table.subscribe([this](const table::ChangeEvent& e) { changes.push_back(e); });
    serf.set_event_handler([this](const serf::UserEvent& e) { events.push_back(e); });
    serf.set_query_handler([this](const serf::Query& q) { queries.push_back(q); });
    ml.self = node(c.node_name, 2, c.tags);
    serf.attach(&ml);
    serf.notify_join(ml.self);
    changes.clear();
  }

  const table::Member* row(const std::string& name) const {
    static table::SnapshotPtr keep;  // keeps the returned pointer valid until the next call
    keep = table.snapshot();
    return keep->find(name);
  }
  table::MemberStatus status(const std::string& name) const {
    const auto* m = row(name);
    return m ? m->status : table::MemberStatus::kNone;
  }
  void advance(swim::Duration d) { timers.advance_to(timers.now() + d); }
  std::vector<Bytes> drain(std::size_t limit = 1400) { return serf.get_broadcasts(3, limit); }
};

inline Bytes join_msg(const std::string& name, std::uint64_t ltime) {
  return wire::serf_message(wire::SerfMsgType::kJoin, wire::SerfJoin{ltime, name});
}
inline Bytes leave_msg(const std::string& name, std::uint64_t ltime, bool prune = false) {
  return wire::serf_message(wire::SerfMsgType::kLeave, wire::SerfLeave{ltime, name, prune});
}
inline Bytes event_msg(const std::string& name, const std::string& payload, std::uint64_t ltime,
                       bool cc = false) {
  return wire::serf_message(wire::SerfMsgType::kUserEvent,
                            wire::SerfUserEvent{ltime, name, bytes(payload), cc});
}

inline wire::SerfQuery query(const std::string& name, std::uint64_t ltime, std::uint32_t id,
                             std::uint32_t flags = 1) {
  wire::SerfQuery q;
  q.LTime = ltime;
  q.ID = id;
  q.Addr = {127, 0, 0, 1};
  q.Port = 7946;
  q.SourceNode = "s1";
  q.Flags = flags;
  q.Timeout = 2'000'000'000;
  q.Name = name;
  return q;
}
inline Bytes query_msg(const wire::SerfQuery& q) {
  return wire::serf_message(wire::SerfMsgType::kQuery, q);
}

inline bool contains(const std::vector<Bytes>& v, const Bytes& b) {
  return std::find(v.begin(), v.end(), b) != v.end();
}

}  // namespace serf_test
