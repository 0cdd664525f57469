// SPDX-License-Identifier: MIT
// Counters for `haserf stats`: what the serf layer received, dropped and did.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace haserf::serf {

struct Stats {
  // Messages handed to notify_msg, by serf type byte (0-9, §7.2); others in unknown_type.
  std::array<std::uint64_t, 10> received_by_type{};
  std::uint64_t unknown_type = 0;
  std::uint64_t empty_messages = 0;
  std::uint64_t decode_errors = 0;  // any serf message or push/pull that did not decode
  // Messages a Go peer could not survive (wire/go_traps.hpp): dropped, neither processed nor
  // gossiped on; also unsafe entries skipped in push/pull state.
  std::uint64_t unsafe_dropped = 0;
  std::string last_unsafe;

  // Intents (§7.7).
  std::uint64_t intents_applied = 0;    // newer than the status LTime: applied and re-broadcast
  std::uint64_t intents_stale = 0;      // LTime <= status LTime
  std::uint64_t intents_buffered = 0;   // for unknown nodes, stored in recentIntents
  std::uint64_t intents_dropped = 0;    // recentIntents full
  std::uint64_t leave_refutations = 0;  // leave intents about us answered with a join intent

  // User events (§7.9).
  std::uint64_t events_sent = 0;
  std::uint64_t events_delivered = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t events_too_old = 0;  // below eventMinTime or outside the ring window
  std::uint64_t events_dropped = 0;  // too large or the ring slot is full

  // Queries (§7.10).
  std::uint64_t queries_received = 0;  // decoded and new
  std::uint64_t queries_duplicate = 0;
  std::uint64_t queries_too_old = 0;
  std::uint64_t queries_dropped = 0;   // ring slot full
  std::uint64_t queries_filtered = 0;  // a filter excluded us
  std::uint64_t bad_filters = 0;       // undecodable filter or unusable regexp
  std::uint64_t queries_acked = 0;
  std::uint64_t queries_answered = 0;         // responses sent (internal and application)
  std::uint64_t queries_delivered = 0;        // handed to the application callback
  std::uint64_t queries_unhandled = 0;        // unknown _serf_ query, or no callback set
  std::uint64_t bad_query_addr = 0;           // Addr not 4/16 bytes or Port 0: nothing sent
  std::uint64_t query_responses_ignored = 0;  // not for an open query of ours (late, unknown)
  std::uint64_t queries_sent = 0;             // queries we originated
  std::uint64_t name_conflicts = 0;           // another address claimed our name
  std::uint64_t name_conflicts_others = 0;    // ... someone else's name
  std::uint64_t conflict_resolutions = 0;     // _serf_conflict queries we ran
  std::uint64_t query_acks_received = 0;      // for our queries, one per node
  std::uint64_t query_answers_received = 0;   // for our queries, one per node
  std::uint64_t relays_ignored = 0;     // relays (type 9) refused: undecodable, not a query
                                        // response, or for an address no member has
  std::uint64_t relays_forwarded = 0;   // relays passed on to their destination
  std::uint64_t responses_relayed = 0;  // copies of our acks/responses sent through others
  std::uint64_t relays_too_large = 0;   // our relay copy would pass the response size limit

  // Members (§7.7).
  std::uint64_t bad_meta = 0;         // tags undecodable or over the caps: empty tags
  std::uint64_t members_dropped = 0;  // max_members reached
  std::uint64_t members_reaped = 0;
  std::uint64_t reconnect_attempts = 0;

  // Network coordinates (§7.11), from the acks of our direct probes.
  std::uint64_t coordinate_updates = 0;   // moved our coordinate, cached the member's
  std::uint64_t coordinate_bad = 0;       // payload with another version byte, or undecodable
  std::uint64_t coordinate_rejected = 0;  // decoded but refused: dimensions, NaN/Inf, rtt range
  std::uint64_t coordinate_resets = 0;    // our coordinate went non-finite and was reset
  std::string last_coordinate_error;

  // Push/pull (§7.6).
  std::uint64_t push_pull_merged = 0;
  std::uint64_t push_pull_invalid = 0;

  // Our own actions.
  std::uint64_t leave_timeouts = 0;       // leave intent not fully sent within broadcast_timeout
  std::uint64_t key_queries_applied = 0;  // install/use/remove-key done (and persisted)
  std::uint64_t key_queries_failed = 0;   // refused: undecodable, no keyring, bad key, write
  std::uint64_t leave_direct_sends = 0;   // direct copies of our leave intent (one per member)
  std::uint64_t queue_pruned = 0;         // broadcasts dropped by the queue depth check
};

}  // namespace haserf::serf
