// SPDX-License-Identifier: MIT
// Serf configuration: the serf 0.9.4 defaults of §7.12, plus bounds against hostile peers that
// Go serf does not have (it trusts anything that decodes).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "core/wire/crypto.hpp"
#include "core/wire/messages.hpp"

namespace haserf::serf {

using namespace std::chrono_literals;

struct Config {
  std::string node_name;
  wire::Tags tags;
  // Serf delegate protocol we speak. Only 5 is supported (tags always as `ff` + map, §7.5);
  // it is DCur of wire::kOurVsn, which memberlist advertises.
  int protocol = 5;

  // --- timers (§7.7, §7.8, §6.7) ---
  std::chrono::milliseconds reap_interval = 15s;
  std::chrono::milliseconds reconnect_interval = 30s;
  std::chrono::milliseconds reconnect_timeout = 24h;  // failed members kept this long
  std::chrono::milliseconds tombstone_timeout = 24h;  // left members kept this long
  std::chrono::milliseconds recent_intent_timeout = 5min;
  std::chrono::milliseconds broadcast_timeout = 5s;      // wait for our leave intent to go out
  std::chrono::milliseconds leave_propagate_delay = 1s;  // before a Prune erases a leaving node
  // Our leave intent and our queries are also sent straight to each alive member when there
  // are at most this many (not in Go serf): random gossip may miss a member for a while,
  // which then sees us fail, or answers a query too late.
  std::size_t leave_direct_limit = 256;
  std::chrono::milliseconds queue_check_interval = 30s;
  // No network coordinates (serf DisableCoordinates): our acks carry none (nil Payload) and
  // acks' coordinates are ignored, so `serf rtt` knows nothing about us (§7.11).
  bool disable_coordinates = false;

  // --- buffers and limits (§7.9, §7.10, §7.12) ---
  std::size_t event_buffer = 512;  // user event dedupe ring slots (>= 1)
  std::size_t query_buffer = 512;  // query dedupe ring slots (>= 1)
  std::size_t max_queue_depth = 4096;
  std::size_t queue_depth_warning = 128;
  std::size_t user_event_size_limit = 512;       // name + payload, and the encoded message
  std::size_t query_size_limit = 1024;           // not used until we originate queries
  std::size_t query_response_size_limit = 1024;  // encoded response message
  std::size_t meta_size_limit = 512;             // memberlist MetaMaxSize: our encoded tags
  int retransmit_mult = 4;
  // Default query timeout = gossip_interval x query_timeout_mult x ceil(log10(N + 1)), N the
  // members memberlist counts (serf DefaultQueryTimeout). core/net copies memberlist's interval.
  std::chrono::milliseconds gossip_interval = 200ms;
  int query_timeout_mult = 16;
  // Another node claims our name: ask the cluster who is right and stand down when in the
  // minority (serf EnableNameConflictResolution). At most one resolution per interval.
  bool enable_name_conflict_resolution = true;
  std::chrono::milliseconds conflict_resolution_interval = 10s;
  // Open queries of ours (each holds its callbacks until its timeout).
  std::size_t max_open_queries = 64;
  // `serf join` without -replay: on our own join, skip events older than the remote's
  // EventLTime (§7.6 MergeRemoteState step 4). Applies between begin_join() and end_join().
  bool ignore_old_events = true;

  // --- bounds against hostile input (not in Go serf) ---
  // Members tracked; joins beyond this are ignored (and counted).
  std::size_t max_members = 10000;
  // Tags accepted from one member's Meta; more, or a Meta longer than max_meta_bytes, is
  // treated like undecodable meta: empty tags, counted.
  std::size_t max_tags = 128;
  std::size_t max_meta_bytes = 1024;
  // Intents buffered for nodes memberlist has not told us about yet (§7.7 recentIntents).
  std::size_t max_recent_intents = 10000;
  // Distinct events remembered per ring slot (same LTime), and the largest received event
  // (name + payload) accepted: Go's hard UserEventSizeLimit of 9 KiB.
  std::size_t max_events_per_slot = 16;
  std::size_t max_event_size = 9 * 1024;
  // Bytes (names + payloads) held by the whole event ring.
  std::size_t max_event_ring_bytes = 4u << 20;
  // Distinct query IDs remembered per ring slot (same LTime).
  std::size_t max_queries_per_slot = 64;
  // Tag-filter regexps longer than this, or with counted repetitions multiplying past
  // max_regex_repeat, are treated as non-matching (std::regex has no RE2 size guard).
  std::size_t max_regex_length = 256;
  std::size_t max_regex_repeat = 1000;

  // --- keyring (§7.10 key queries) ---
  // The gossip keyring the key queries change; shared with memberlist and the transport, owned
  // by whoever owns the Serf (core/net: the Agent). Null or empty: encryption is off and key
  // queries are answered "not enabled", as serf does.
  wire::Keyring* keyring = nullptr;
  // Called after a key query changed the keyring (serf writes its -keyring-file there); an
  // error is returned to the asking node as the response's Message.
  std::function<bool(const wire::Keyring&, std::string* err)> keyring_changed;
};

}  // namespace haserf::serf
