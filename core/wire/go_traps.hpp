// SPDX-License-Identifier: MIT
// Messages a Go peer cannot survive. serf 0.9.4 on memberlist 0.2.2 (Debian 12's serf) panics
// or poisons its state on some inputs that decode fine (docs/go-traps.md lists each one with
// its place in Go's source). haserf never forwards such a message: it is dropped, counted, and
// not processed either. Each check returns why, or nullopt when the message is safe.
//
// Forwarded messages are also re-encoded from their decoded fields (never the received bytes),
// so quirks of Go's decoder that our decoder reads differently cannot travel through us.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/wire/messages.hpp"

namespace haserf::wire {

// Lamport times at or beyond this wrap Go's clocks to zero within 2^32 increments (Witness
// stores v + 1): every clock of the cluster would restart and drop new events as old. The
// bound sits next to the wrap on purpose: a cluster whose clocks an attacker pushed far up
// (straight to Go peers, we cannot prevent that) still works, and we keep following it.
inline constexpr std::uint64_t kMaxLamportTime = ~std::uint64_t{0} - 0xffffffffu;
// Incarnations this high let an accuser push a node's refutation past 2^32 - 1, where Go's
// `accusedInc + 1` wraps to 0 and the node can never refute again. Same reasoning: right
// below the wrap, with a million refutations to spare.
inline constexpr std::uint32_t kMaxIncarnation = ~std::uint32_t{0} - 0xfffffu;

std::optional<std::string> go_trap(const Alive& m);
std::optional<std::string> go_trap(const Suspect& m);
std::optional<std::string> go_trap(const Dead& m);
std::optional<std::string> go_trap(const PushNodeState& m);
std::optional<std::string> go_trap(const SerfJoin& m);
std::optional<std::string> go_trap(const SerfLeave& m);
std::optional<std::string> go_trap(const SerfUserEvent& m);
std::optional<std::string> go_trap(const SerfQuery& m);

// Node meta holding tags (`ff` + msgpack map) is decoded again by every Go serf: go_trap drops
// a message whose tags do not decode strictly (every declared length and count present, as
// our decoder demands), so what we forward cannot make Go allocate beyond the packet. The
// bytes themselves travel unchanged: the node they describe compares them with its own and
// refutes on any difference (Go writes a map's keys in random order, we would sort them).

// Rewrites the parts of a query that Go decodes again with msgpack (filters, the key request
// inside `_serf_*-key` payloads) from their decoded values: a container header claiming four
// billion entries, valid for our bounded reader, would make Go allocate them all. Call after
// go_trap() found nothing.
void normalize(SerfQuery& m);

}  // namespace haserf::wire
