// SPDX-License-Identifier: MIT
// The `haserf` Lua C module (docs/lua-api.md). A thin adapter over core: the process-wide
// member lives in bindings/common (module_state); this file only converts between Lua values
// and C++ and guarantees that no C++ exception and no blocking call crosses into Lua.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <lua.hpp>
#include <new>
#include <string>
#include <vector>

#include "bindings/common/module_state.hpp"

namespace haserf {
extern const char* const kBuildCommit;  // generated: cmake/version_info.cmake
}

namespace {

using haserf::bindings::ModuleState;
using haserf::bindings::StartOptions;
namespace serf = haserf::serf;

// A Lua-facing implementation returns the number of results, or -1 with `err` set, which
// the trampoline turns into a Lua error after every C++ object of the call is destroyed
// (lua_error longjmps and would skip destructors).
using Impl = int (*)(lua_State* L, std::string& err);

template <Impl F>
int trampoline(lua_State* L) {
  char message[512];
  int results = 0;
  {
    std::string err;
    try {
      results = F(L, err);
    } catch (const std::exception& e) {
      err = std::string("internal error: ") + e.what();
      results = -1;
    } catch (...) {
      err = "internal error";
      results = -1;
    }
    if (results >= 0) return results;
    std::snprintf(message, sizeof message, "%s", err.c_str());
  }
  lua_pushstring(L, message);
  return lua_error(L);
}

// ---- argument helpers: they report problems through `err` instead of raising ----

// Every read of a caller's table is raw (lua_rawget, lua_rawgeti, lua_next): a metamethod of
// the caller's could raise or yield across our C++ frames.
void raw_field(lua_State* L, int table, const char* key) {
  table = lua_absindex(L, table);
  lua_pushstring(L, key);
  lua_rawget(L, table);
}

bool get_string_field(lua_State* L, int table, const char* fn, const char* key, std::string& out,
                      bool& present, std::string& err) {
  raw_field(L, table, key);
  present = !lua_isnil(L, -1);
  bool ok = true;
  if (present) {
    if (lua_type(L, -1) != LUA_TSTRING) {
      err = std::string(fn) + ": '" + key + "' must be a string";
      ok = false;
    } else {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      out.assign(s, len);
    }
  }
  lua_pop(L, 1);
  return ok;
}

// Reads a table of string → string at stack index `idx` into `out`.
bool read_string_map(lua_State* L, int idx, const char* what,
                     std::map<std::string, std::string>& out, std::string& err) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 2);
      err = std::string(what) + " must map strings to strings";
      return false;
    }
    std::size_t klen = 0, vlen = 0;
    const char* k = lua_tolstring(L, -2, &klen);
    const char* v = lua_tolstring(L, -1, &vlen);
    out[std::string(k, klen)] = std::string(v, vlen);
    lua_pop(L, 1);
  }
  return true;
}

// `true`, or `nil, failure`: how runtime failures (not argument errors) come back to Lua.
int push_result(lua_State* L, bool ok, const std::string& failure) {
  if (ok) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushlstring(L, failure.data(), failure.size());
  return 2;
}

void set_string(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

void set_integer(lua_State* L, const char* key, long long value) {
  lua_pushinteger(L, static_cast<lua_Integer>(value));
  lua_setfield(L, -2, key);
}

// rtt: the estimated round trip time from us (network coordinates), when known.
void push_member(lua_State* L, const haserf::table::Member& m,
                 const haserf::net::Agent::RttMap* rtts = nullptr) {
  lua_createtable(L, 0, 7);
  if (rtts) {
    if (auto it = rtts->find(m.name); it != rtts->end()) {
      lua_pushnumber(L, std::chrono::duration<double, std::milli>(it->second).count());
      lua_setfield(L, -2, "rtt_ms");
    }
  }
  set_string(L, "name", m.name);
  set_string(L, "addr", m.addr);
  set_integer(L, "port", m.port);
  set_string(L, "status", std::string(haserf::table::to_string(m.status)));
  if (!m.rejected.empty()) set_string(L, "rejected", m.rejected);
  lua_createtable(L, 0, static_cast<int>(m.tags.size()));
  for (const auto& [k, v] : m.tags) set_string(L, k.c_str(), v);
  lua_setfield(L, -2, "tags");
}

// ---- functions ----

// Reads haserf.start's option table at index 1 (also used by haserf.check_options).
// Field `key` of the table at `idx`: a string (one item) or an array of strings, appended to
// `out`; absent is fine. `what` names an item in the error ("CIDR").
bool get_string_list_field(lua_State* L, int idx, const char* fn, const char* key, const char* what,
                           std::vector<std::string>& out, std::string& err) {
  const auto bad = [&] {
    err = std::string(fn) + ": '" + key + "' must be an array of " + what + " strings";
    return false;
  };
  raw_field(L, idx, key);
  if (lua_type(L, -1) == LUA_TSTRING) {
    out.emplace_back(lua_tostring(L, -1));
  } else if (lua_type(L, -1) == LUA_TTABLE) {
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 2);
        return bad();
      }
      out.emplace_back(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return bad();
  }
  lua_pop(L, 1);
  return true;
}

bool read_start_options(lua_State* L, const char* fn, StartOptions& opts, std::string& err) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    err = std::string(fn) + ": expects a table of options, e.g. {bind=\"127.0.0.1:7946\"}";
    return false;
  }
  bool present = false;
  if (!get_string_field(L, 1, fn, "bind", opts.bind, present, err)) return false;
  if (!present) {
    err = std::string(fn) + ": 'bind' is required (\"IP:PORT\")";
    return false;
  }
  for (auto [key, field] : {std::pair<const char*, std::string*>{"advertise", &opts.advertise},
                            {"node", &opts.node},
                            {"encrypt", &opts.encrypt},
                            {"keyring_file", &opts.keyring_file},
                            {"snapshot_file", &opts.snapshot_file},
                            {"profile", &opts.profile},
                            {"handover", &opts.handover},
                            {"port_tag", &opts.policy.port_tag},
                            {"weight_tag", &opts.policy.weight_tag}}) {
    if (!get_string_field(L, 1, fn, key, *field, present, err)) return false;
  }
  raw_field(L, 1, "require_port");
  opts.policy.require_port = lua_toboolean(L, -1) != 0;
  lua_pop(L, 1);
  raw_field(L, 1, "handover_wait_ms");
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0) {
      lua_pop(L, 1);
      err = std::string(fn) + ": 'handover_wait_ms' must be a non-negative integer";
      return false;
    }
    opts.handover_wait = std::chrono::milliseconds(lua_tointeger(L, -1));
  }
  lua_pop(L, 1);
  raw_field(L, 1, "join_retry_ms");
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0) {
      lua_pop(L, 1);
      err = std::string(fn) + ": 'join_retry_ms' must be a non-negative integer";
      return false;
    }
    opts.join_retry = std::chrono::milliseconds(lua_tointeger(L, -1));
  }
  lua_pop(L, 1);
  if (!get_string_list_field(L, 1, fn, "join", "\"IP:PORT\"", opts.join, err) ||
      !get_string_list_field(L, 1, fn, "allow", "CIDR", opts.allow, err)) {
    return false;
  }
  raw_field(L, 1, "tags");
  if (lua_type(L, -1) == LUA_TTABLE) {
    if (!read_string_map(L, -1, (std::string(fn) + ": 'tags'").c_str(), opts.tags, err)) {
      lua_pop(L, 1);
      return false;
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    err = std::string(fn) + ": 'tags' must be a table of strings";
    return false;
  }
  lua_pop(L, 1);
  return true;
}

int l_start(lua_State* L, std::string& err) {
  StartOptions opts;
  if (!read_start_options(L, "haserf.start", opts, err)) return -1;
  std::string failure;
  const bool ok = ModuleState::get().start(opts, failure);
  return push_result(L, ok, failure);
}

// true | nil, reason: what start() would refuse, without starting (for `haproxy -c`).
int l_check_options(lua_State* L, std::string& err) {
  StartOptions opts;
  if (!read_start_options(L, "haserf.check_options", opts, err)) return -1;
  std::string failure;
  const bool ok = ModuleState::check(opts, failure);
  return push_result(L, ok, failure);
}

int l_set_app_state(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    err = "haserf.set_app_state: expects a string";
    return -1;
  }
  std::size_t len = 0;
  const char* s = lua_tolstring(L, 1, &len);
  ModuleState::get().set_app_state(std::string(s, len));
  lua_pushboolean(L, 1);
  return 1;
}

// Blocking (bounded): for HAProxy's core.register_init only.
int l_predecessor_state(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING || (!lua_isnoneornil(L, 2) && !lua_isinteger(L, 2))) {
    err = "haserf.predecessor_state: expects (bind \"IP:PORT\" [, timeout_ms])";
    return -1;
  }
  const lua_Integer ms = lua_isnoneornil(L, 2) ? 500 : lua_tointeger(L, 2);
  if (ms < 0 || ms > 10000) {
    err = "haserf.predecessor_state: timeout_ms must be 0-10000";
    return -1;
  }
  std::string failure;
  const auto state =
      ModuleState::predecessor_state(lua_tostring(L, 1), std::chrono::milliseconds(ms), failure);
  if (!state) {
    lua_pushnil(L);
    lua_pushlstring(L, failure.data(), failure.size());
    return 2;
  }
  lua_pushlstring(L, state->data(), state->size());
  return 1;
}

void push_strings(lua_State* L, const std::vector<std::string>& v) {
  lua_createtable(L, static_cast<int>(v.size()), 0);
  lua_Integer i = 0;
  for (const auto& s : v) {
    lua_pushlstring(L, s.data(), s.size());
    lua_rawseti(L, -2, ++i);
  }
}

int l_env_names(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    err = "haserf.env_names: expects a prefix string";
    return -1;
  }
  push_strings(L, haserf::bindings::env_names(lua_tostring(L, 1)));
  return 1;
}

int l_config_files(lua_State* L, std::string&) {
  push_strings(L, haserf::bindings::host_config_files());
  return 1;
}

int l_started(lua_State* L, std::string&) {
  lua_pushboolean(L, ModuleState::get().started());
  return 1;
}

// phase [, error]: cheap enough for every tick of the glue's task.
int l_state(lua_State* L, std::string&) {
  const auto s = ModuleState::get().status();
  lua_pushlstring(L, s.phase.data(), s.phase.size());
  if (s.error.empty()) return 1;
  lua_pushlstring(L, s.error.data(), s.error.size());
  return 2;
}

int l_status(lua_State* L, std::string&) {
  const auto s = ModuleState::get().status();
  lua_createtable(L, 0, 6);
  set_string(L, "phase", s.phase);
  set_string(L, "error", s.error);
  set_integer(L, "took_over_from", s.took_over_from);
  set_integer(L, "handed_over_to", s.handed_over_to);
  set_integer(L, "joined", s.joined);
  lua_pushboolean(L, s.join_done);
  lua_setfield(L, -2, "join_done");
  set_string(L, "warning", s.warning);
  return 1;
}

int l_soft_stop(lua_State* L, std::string&) {
  ModuleState::get().soft_stop();
  lua_pushboolean(L, 1);
  return 1;
}

// A non-negative integer field of the table at `idx` (an integral float such as 100.0 too);
// absent leaves `out` as it is.
bool get_count_field(lua_State* L, int idx, const char* fn, const char* key, std::size_t& out,
                     std::string& err) {
  raw_field(L, idx, key);
  bool ok = true;
  if (!lua_isnil(L, -1)) {
    int isnum = 0;
    const lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
    if (!isnum || n < 0) {
      err = std::string(fn) + ": '" + key + "' must be an integer >= 0";
      ok = false;
    } else {
      out = static_cast<std::size_t>(n);
    }
  }
  lua_pop(L, 1);
  return ok;
}

// The filter table of haserf.members and haserf.members_json at index 1. A key it does not
// know is an error: a misspelt `statu` must not quietly list every member.
bool read_member_filter(lua_State* L, const char* fn, haserf::table::MemberFilter& filter,
                        std::string& err) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    err = std::string(fn) + ": the filter must be a table, e.g. {status=\"alive\"}";
    return false;
  }
  static const char* const kKeys[] = {"status", "name",   "rejected", "tags",
                                      "self",   "offset", "limit"};
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    const char* key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
    bool known = false;
    for (const char* k : kKeys) known = known || (key && std::strcmp(key, k) == 0);
    if (!known) {
      err = std::string(fn) + ": unknown filter key " +
            (key ? "'" + std::string(key) + "'" : std::string("(not a string)")) +
            " (status, name, rejected, tags, self, offset, limit)";
      lua_pop(L, 2);
      return false;
    }
    lua_pop(L, 1);
  }
  bool present = false;
  std::string status;
  if (!get_string_field(L, 1, fn, "status", status, present, err)) return false;
  if (present) {
    filter.status = haserf::table::parse_status(status);
    if (!filter.status) {
      err = std::string(fn) + ": 'status' must be alive, suspect, leaving, left, failed or none";
      return false;
    }
  }
  if (!get_string_field(L, 1, fn, "name", filter.name, present, err)) return false;
  for (const char* key : {"rejected", "self"}) {
    raw_field(L, 1, key);
    const int type = lua_type(L, -1);
    const bool value = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    if (type == LUA_TNIL) continue;
    if (type != LUA_TBOOLEAN) {
      err = std::string(fn) + ": '" + key + "' must be a boolean";
      return false;
    }
    if (std::strcmp(key, "rejected") == 0) {
      filter.rejected = value;
    } else if (!value) {
      filter.exclude = ModuleState::get().node_name();
    }
  }
  raw_field(L, 1, "tags");
  if (lua_type(L, -1) == LUA_TTABLE) {
    const std::string what = std::string(fn) + ": 'tags'";
    if (!read_string_map(L, -1, what.c_str(), filter.tags, err)) {
      lua_pop(L, 1);
      return false;
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    err = std::string(fn) + ": 'tags' must be a table of strings";
    return false;
  }
  lua_pop(L, 1);
  return get_count_field(L, 1, fn, "offset", filter.offset, err) &&
         get_count_field(L, 1, fn, "limit", filter.limit, err);
}

// With a filter, the page of members it selects plus how many matched and how many there
// are: a caller showing 100 of 10,000 members builds 100 tables and still says "of 10,000".
int l_members(lua_State* L, std::string& err) {
  haserf::table::MemberFilter filter;
  const bool filtered = !lua_isnoneornil(L, 1);
  if (filtered && !read_member_filter(L, "haserf.members", filter, err)) return -1;
  auto& state = ModuleState::get();
  const auto snapshot = state.snapshot();
  const auto rtts = state.rtt_estimates();
  // A reference, not the ternary's copy of every member pointer.
  static const std::vector<haserf::table::MemberPtr> kNoMembers;
  const auto selected =
      haserf::table::select_members(snapshot ? snapshot->members() : kNoMembers, filter);
  lua_createtable(L, static_cast<int>(selected.members.size()), 0);
  lua_Integer i = 0;
  for (const auto& m : selected.members) {
    push_member(L, *m, rtts.get());
    lua_rawseti(L, -2, ++i);
  }
  if (!filtered) return 1;
  lua_pushinteger(L, static_cast<lua_Integer>(selected.matching));
  lua_pushinteger(L, static_cast<lua_Integer>(selected.total));
  return 3;
}

// Without a filter exactly what it always returned (one string); with one, also matching and
// total, as haserf.members.
int l_members_json(lua_State* L, std::string& err) {
  if (lua_isnoneornil(L, 1)) {
    const std::string json = ModuleState::get().members_json();
    lua_pushlstring(L, json.data(), json.size());
    return 1;
  }
  haserf::table::MemberFilter filter;
  if (!read_member_filter(L, "haserf.members_json", filter, err)) return -1;
  std::size_t matching = 0, total = 0;
  const std::string json = ModuleState::get().members_json(filter, matching, total);
  lua_pushlstring(L, json.data(), json.size());
  lua_pushinteger(L, static_cast<lua_Integer>(matching));
  lua_pushinteger(L, static_cast<lua_Integer>(total));
  return 3;
}

int l_version(lua_State* L, std::string&) {
  const auto snapshot = ModuleState::get().snapshot();
  lua_pushinteger(L, static_cast<lua_Integer>(snapshot ? snapshot->version() : 0));
  return 1;
}

int l_events(lua_State* L, std::string& err) {
  lua_Integer max = 100;
  if (!lua_isnoneornil(L, 1)) {
    if (!lua_isinteger(L, 1) || lua_tointeger(L, 1) < 1) {
      err = "haserf.events: 'max' must be a positive integer";
      return -1;
    }
    max = lua_tointeger(L, 1);
  }
  const auto events = ModuleState::get().drain_events(static_cast<std::size_t>(max));
  lua_createtable(L, static_cast<int>(events.size()), 0);
  lua_Integer i = 0;
  for (const auto& e : events) {
    lua_createtable(L, 0, 4);
    set_string(L, "name", e.name);
    lua_pushlstring(L, reinterpret_cast<const char*>(e.payload.data()), e.payload.size());
    lua_setfield(L, -2, "payload");
    set_integer(L, "ltime", static_cast<long long>(e.ltime));
    lua_pushboolean(L, e.coalesce);
    lua_setfield(L, -2, "coalesce");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

int l_user_event(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    err = "haserf.user_event: 'name' must be a string";
    return -1;
  }
  if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TSTRING) {
    err = "haserf.user_event: 'payload' must be a string";
    return -1;
  }
  std::size_t nlen = 0, plen = 0;
  const char* name = lua_tolstring(L, 1, &nlen);
  const char* payload = lua_isnoneornil(L, 2) ? "" : lua_tolstring(L, 2, &plen);
  const bool coalesce = lua_toboolean(L, 3) != 0;
  std::string failure;
  const bool ok = ModuleState::get().user_event(std::string(name, nlen), std::string(payload, plen),
                                                coalesce, failure);
  return push_result(L, ok, failure);
}

// haserf.queries([max]): application queries that reached us, oldest first:
// { {id=, name=, payload=, ltime=, from=, timeout_ms=}, ... }. Answer with haserf.respond(id,..).
int l_queries(lua_State* L, std::string& err) {
  lua_Integer max = 100;
  if (!lua_isnoneornil(L, 1)) {
    if (!lua_isinteger(L, 1) || lua_tointeger(L, 1) < 1) {
      err = "haserf.queries: 'max' must be a positive integer";
      return -1;
    }
    max = lua_tointeger(L, 1);
  }
  const auto queries = ModuleState::get().drain_queries(static_cast<std::size_t>(max));
  const auto now = std::chrono::steady_clock::now();
  lua_createtable(L, static_cast<int>(queries.size()), 0);
  lua_Integer i = 0;
  for (const auto& q : queries) {
    lua_createtable(L, 0, 6);
    set_integer(L, "id", static_cast<long long>(q.id));
    set_string(L, "name", q.query.name);
    lua_pushlstring(L, reinterpret_cast<const char*>(q.query.payload.data()),
                    q.query.payload.size());
    lua_setfield(L, -2, "payload");
    set_integer(L, "ltime", static_cast<long long>(q.query.ltime));
    set_string(L, "from", q.query.source_node);
    set_integer(
        L, "timeout_ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(q.query.deadline - now).count());
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// haserf.respond(id, payload) -> true | nil, reason
int l_respond(lua_State* L, std::string& err) {
  if (!lua_isinteger(L, 1) || lua_tointeger(L, 1) < 1) {
    err = "haserf.respond: 'id' must be a query id from haserf.queries()";
    return -1;
  }
  if (lua_type(L, 2) != LUA_TSTRING) {
    err = "haserf.respond: 'payload' must be a string";
    return -1;
  }
  std::size_t len = 0;
  const char* payload = lua_tolstring(L, 2, &len);
  std::string failure;
  const bool ok = ModuleState::get().respond(static_cast<std::uint64_t>(lua_tointeger(L, 1)),
                                             std::string(payload, len), failure);
  return push_result(L, ok, failure);
}

// haserf.query(name, payload, {nodes={...}, tags={k=re}, ack=bool, timeout_ms=n,
// relay_factor=n}) -> id | nil, reason. Never waits: poll haserf.query_result(id).
int l_query(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    err = "haserf.query: 'name' must be a string";
    return -1;
  }
  if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TSTRING) {
    err = "haserf.query: 'payload' must be a string";
    return -1;
  }
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE) {
    err = "haserf.query: 'options' must be a table";
    return -1;
  }
  serf::QueryParams params;
  if (lua_type(L, 3) == LUA_TTABLE) {
    lua_getfield(L, 3, "nodes");
    if (lua_type(L, -1) == LUA_TTABLE) {
      const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
      for (lua_Integer i = 1; i <= n && i <= 1000; ++i) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
          err = "haserf.query: 'nodes' must be a list of node names";
          return -1;
        }
        params.filter_nodes.emplace_back(lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    } else if (!lua_isnil(L, -1)) {
      err = "haserf.query: 'nodes' must be a list of node names";
      return -1;
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "tags");
    if (lua_type(L, -1) == LUA_TTABLE) {
      std::map<std::string, std::string> tags;
      if (!read_string_map(L, lua_gettop(L), "haserf.query: tags", tags, err)) return -1;
      for (auto& [k, v] : tags) params.filter_tags.emplace_back(k, v);
    } else if (!lua_isnil(L, -1)) {
      err = "haserf.query: 'tags' must be a table of tag = regexp";
      return -1;
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "ack");
    params.request_ack = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    for (const char* key : {"timeout_ms", "relay_factor"}) {
      lua_getfield(L, 3, key);
      if (!lua_isnil(L, -1)) {
        const lua_Integer max = std::string_view(key) == "timeout_ms" ? 3600000 : 5;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > max) {
          err = std::string("haserf.query: '") + key + "' must be an integer from 0 to " +
                std::to_string(max);
          return -1;
        }
        if (std::string_view(key) == "timeout_ms") {
          params.timeout = std::chrono::milliseconds(lua_tointeger(L, -1));
        } else {
          params.relay_factor = static_cast<std::uint8_t>(lua_tointeger(L, -1));
        }
      }
      lua_pop(L, 1);
    }
  }
  std::size_t nlen = 0, plen = 0;
  const char* name = lua_tolstring(L, 1, &nlen);
  const char* payload = lua_isnoneornil(L, 2) ? "" : lua_tolstring(L, 2, &plen);
  std::string failure;
  const auto id = ModuleState::get().query(std::string(name, nlen), std::string(payload, plen),
                                           params, failure);
  if (!id) return push_result(L, false, failure);
  lua_pushinteger(L, static_cast<lua_Integer>(*id));
  return 1;
}

// haserf.keys("install"|"use"|"remove"|"list", [key]) -> id | nil, reason (serf keys' job;
// poll haserf.query_result(id)).
int l_keys(lua_State* L, std::string& err) {
  static const std::map<std::string, serf::KeyOp> kOps = {{"install", serf::KeyOp::kInstall},
                                                          {"use", serf::KeyOp::kUse},
                                                          {"remove", serf::KeyOp::kRemove},
                                                          {"list", serf::KeyOp::kList}};
  const auto it = lua_type(L, 1) == LUA_TSTRING ? kOps.find(lua_tostring(L, 1)) : kOps.end();
  if (it == kOps.end()) {
    err = "haserf.keys: the operation must be \"install\", \"use\", \"remove\" or \"list\"";
    return -1;
  }
  if (it->second != serf::KeyOp::kList && lua_type(L, 2) != LUA_TSTRING) {
    err = "haserf.keys: '" + it->first + "' needs a key (base64)";
    return -1;
  }
  std::string failure;
  const auto id = ModuleState::get().keys(
      it->second, it->second == serf::KeyOp::kList ? "" : lua_tostring(L, 2), failure);
  if (!id) return push_result(L, false, failure);
  lua_pushinteger(L, static_cast<lua_Integer>(*id));
  return 1;
}

// haserf.query_result(id) -> {done=, error=, acks={...}, responses={node=payload}, [keys=,
// messages=, num_nodes=, num_resp=, num_err=]} | nil, reason. Forgotten once read done.
int l_query_result(lua_State* L, std::string& err) {
  if (!lua_isinteger(L, 1)) {
    err = "haserf.query_result: 'id' must be an id from haserf.query() or haserf.keys()";
    return -1;
  }
  const auto r = ModuleState::get().query_result(static_cast<std::uint64_t>(lua_tointeger(L, 1)));
  if (!r) return push_result(L, false, "unknown query id (or its finished result was read)");
  lua_createtable(L, 0, 8);
  lua_pushboolean(L, r->done);
  lua_setfield(L, -2, "done");
  if (!r->error.empty()) set_string(L, "error", r->error);
  lua_createtable(L, static_cast<int>(r->acks.size()), 0);
  lua_Integer i = 0;
  for (const auto& a : r->acks) {
    lua_pushlstring(L, a.data(), a.size());
    lua_rawseti(L, -2, ++i);
  }
  lua_setfield(L, -2, "acks");
  lua_createtable(L, 0, static_cast<int>(r->responses.size()));
  for (const auto& [from, payload] : r->responses) set_string(L, from.c_str(), payload);
  lua_setfield(L, -2, "responses");
  if (r->key_op) {
    lua_createtable(L, 0, static_cast<int>(r->keys.keys.size()));
    for (const auto& [k, n] : r->keys.keys) set_integer(L, k.c_str(), n);
    lua_setfield(L, -2, "keys");
    lua_createtable(L, 0, static_cast<int>(r->keys.messages.size()));
    for (const auto& [node, m] : r->keys.messages) set_string(L, node.c_str(), m);
    lua_setfield(L, -2, "messages");
    set_integer(L, "num_nodes", r->keys.num_nodes);
    set_integer(L, "num_resp", r->keys.num_resp);
    set_integer(L, "num_err", r->keys.num_err);
    if (r->done) {
      const auto verdict = serf::key_result_error(r->keys);
      if (!verdict.empty() && r->error.empty()) set_string(L, "error", verdict);
    }
  }
  return 1;
}

int l_set_tags(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    err = "haserf.set_tags: expects a table of strings";
    return -1;
  }
  std::map<std::string, std::string> tags;
  if (!read_string_map(L, 1, "haserf.set_tags: tags", tags, err)) return -1;
  std::string failure;
  const bool ok = ModuleState::get().set_tags(std::move(tags), failure);
  return push_result(L, ok, failure);
}

int l_render(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    err = "haserf.render: 'template' must be a string (the template text)";
    return -1;
  }
  std::map<std::string, std::string> vars;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TTABLE) {
      err = "haserf.render: 'vars' must be a table of strings";
      return -1;
    }
    if (!read_string_map(L, 2, "haserf.render: vars", vars, err)) return -1;
  }
  std::size_t len = 0;
  const char* text = lua_tolstring(L, 1, &len);
  auto result = ModuleState::get().render(std::string_view(text, len), vars);
  if (!result.ok()) {
    lua_pushnil(L);
    lua_pushlstring(L, result.error.data(), result.error.size());
    return 2;
  }
  lua_pushlstring(L, result.output.data(), result.output.size());
  lua_createtable(L, static_cast<int>(result.warnings.size()), 0);
  lua_Integer i = 0;
  for (const auto& w : result.warnings) {
    lua_pushlstring(L, w.data(), w.size());
    lua_rawseti(L, -2, ++i);
  }
  return 2;
}

int l_reload(lua_State* L, std::string& err) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    err = "haserf.reload: expects a table {template=, out=, check=, reload=, vars=}";
    return -1;
  }
  haserf::bindings::ReloadJob job;
  bool present = false;
  if (!get_string_field(L, 1, "haserf.reload", "template", job.template_path, present, err))
    return -1;
  if (!present) {
    err = "haserf.reload: 'template' (a path) is required";
    return -1;
  }
  if (!get_string_field(L, 1, "haserf.reload", "out", job.out, present, err)) return -1;
  if (!present) {
    err = "haserf.reload: 'out' (a path) is required";
    return -1;
  }
  if (!get_string_field(L, 1, "haserf.reload", "check", job.check, present, err) ||
      !get_string_field(L, 1, "haserf.reload", "reload", job.reload, present, err)) {
    return -1;
  }
  raw_field(L, 1, "vars");
  if (lua_type(L, -1) == LUA_TTABLE) {
    if (!read_string_map(L, -1, "haserf.reload: 'vars'", job.vars, err)) {
      lua_pop(L, 1);
      return -1;
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    err = "haserf.reload: 'vars' must be a table of strings";
    return -1;
  }
  lua_pop(L, 1);
  std::string failure;
  const bool ok = ModuleState::get().reload(std::move(job), failure);
  return push_result(L, ok, failure);
}

int l_reload_status(lua_State* L, std::string&) {
  const auto s = ModuleState::get().reload_status();
  lua_createtable(L, 0, 10);
  set_string(L, "state", s.state);
  set_string(L, "message", s.message);
  set_integer(L, "ok", static_cast<long long>(s.ok));
  set_integer(L, "failed", static_cast<long long>(s.failed));
  set_integer(L, "unchanged", static_cast<long long>(s.unchanged));
  set_integer(L, "last_version", static_cast<long long>(s.last_version));
  lua_pushnumber(L, s.started_at);
  lua_setfield(L, -2, "started_at");
  lua_pushnumber(L, s.finished_at);
  lua_setfield(L, -2, "finished_at");
  lua_pushnumber(L, s.duration);
  lua_setfield(L, -2, "duration");
  set_string(L, "last_result", s.last_result);
  return 1;
}

int l_stats(lua_State* L, std::string&) {
  const auto counters = ModuleState::get().stats();
  lua_createtable(L, 0, static_cast<int>(counters.numbers.size() + counters.strings.size()));
  for (const auto& [k, v] : counters.numbers) set_integer(L, k.c_str(), v);
  for (const auto& [k, v] : counters.strings) set_string(L, k.c_str(), v);
  lua_pushboolean(L, counters.started);
  lua_setfield(L, -2, "started");
  return 1;
}

int l_leave(lua_State* L, std::string&) {
  ModuleState::get().leave();
  lua_pushboolean(L, 1);
  return 1;
}

int l_stop(lua_State* L, std::string&) {
  ModuleState::get().stop();
  lua_pushboolean(L, 1);
  return 1;
}

int l_version_string(lua_State* L, std::string&) {
  lua_pushstring(L, HASERF_VERSION);
  return 1;
}

int l_build_info(lua_State* L, std::string&) {
  lua_createtable(L, 0, 3);
  set_string(L, "version", HASERF_VERSION);
  set_string(L, "commit", haserf::kBuildCommit);
  set_string(L, "lua", LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
  return 1;
}

// ---- haserf.watch(): what changed since the last look ----------------------------------

// A watch keeps the snapshot its owner last looked at. Snapshots are name-sorted chunks of
// shared, immutable members; a change replaces only the changed member's pointer and the
// chunk holding it, so the diff skips every shared chunk, compares pointers in the others,
// and builds Lua tables only for what changed: the glue's cost per membership change follows
// the change, not the cluster (docs/lua-api.md).
struct Watch {
  haserf::table::SnapshotPtr seen;  // null: nothing seen yet (the first changes() is everything)
  bool include_self = true;
};
constexpr const char* kWatchMeta = "haserf.watch";

// __gc only drops the snapshot: an empty shared_ptr needs no destructor, so a finalized watch
// that Lua resurrects and calls again simply reports everything as new.
int watch_gc(lua_State* L) {
  if (auto* w = static_cast<Watch*>(luaL_testudata(L, 1, kWatchMeta))) w->seen.reset();
  return 0;
}

// w:changes() -> changed (array of members, as haserf.members() without rtt_ms), removed
// (array of names), version (the table version now seen; 0 before the member started).
int l_watch_changes(lua_State* L, std::string& err) {
  auto* w = static_cast<Watch*>(luaL_testudata(L, 1, kWatchMeta));
  if (!w) {
    err = "haserf watch: call it as w:changes() on a value from haserf.watch()";
    return -1;
  }
  auto& state = ModuleState::get();
  auto now = state.snapshot();
  const std::string self = w->include_self ? std::string() : state.node_name();
  const auto skip = [&](const haserf::table::Member& m) { return !self.empty() && m.name == self; };
  static const std::vector<haserf::table::Snapshot::ChunkPtr> kNone;
  const auto& before = w->seen ? w->seen->chunks() : kNone;
  const auto& after = now ? now->chunks() : kNone;
  lua_newtable(L);  // changed
  lua_newtable(L);  // removed
  lua_Integer n_changed = 0, n_removed = 0;
  const auto changed = [&](const haserf::table::Member& m) {
    if (skip(m)) return;
    push_member(L, m);
    lua_rawseti(L, -3, ++n_changed);
  };
  const auto removed = [&](const haserf::table::Member& m) {
    if (skip(m)) return;
    lua_pushlstring(L, m.name.data(), m.name.size());
    lua_rawseti(L, -2, ++n_removed);
  };
  if (w->seen != now) {
    // A merge of two name-sorted walks, chunk by chunk: a chunk both snapshots share (the
    // same pointer, both walks at its start) holds the same members and is skipped whole.
    std::size_t bi = 0, bj = 0, ai = 0, aj = 0;  // chunk index, position in it
    const auto next_before = [&] {
      if (++bj == before[bi]->size()) ++bi, bj = 0;
    };
    const auto next_after = [&] {
      if (++aj == after[ai]->size()) ++ai, aj = 0;
    };
    while (bi < before.size() || ai < after.size()) {
      const bool both = bi < before.size() && ai < after.size();
      if (both && bj == 0 && aj == 0 && before[bi] == after[ai]) {
        ++bi, ++ai;
        continue;
      }
      const haserf::table::MemberPtr* b = bi < before.size() ? &(*before[bi])[bj] : nullptr;
      const haserf::table::MemberPtr* a = ai < after.size() ? &(*after[ai])[aj] : nullptr;
      if (b && a && *b == *a) {  // the same member object: unchanged
        next_before();
        next_after();
        continue;
      }
      const int order = !b ? 1 : !a ? -1 : (*b)->name.compare((*a)->name);
      if (order < 0) {
        removed(**b);
        next_before();
      } else if (order > 0) {
        changed(**a);
        next_after();
      } else {
        changed(**a);
        next_before();
        next_after();
      }
    }
    w->seen = std::move(now);
  }
  lua_pushinteger(L, static_cast<lua_Integer>(w->seen ? w->seen->version() : 0));
  return 3;
}

// haserf.watch([{self = false}]) -> a watch (see Watch).
int l_watch(lua_State* L, std::string& err) {
  bool include_self = true;
  if (!lua_isnoneornil(L, 1)) {
    if (lua_type(L, 1) != LUA_TTABLE) {
      err = "haserf.watch: the options must be a table, e.g. {self=false}";
      return -1;
    }
    raw_field(L, 1, "self");
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
      include_self = lua_toboolean(L, -1) != 0;
    } else if (!lua_isnil(L, -1)) {
      lua_pop(L, 1);
      err = "haserf.watch: 'self' must be a boolean";
      return -1;
    }
    lua_pop(L, 1);
  }
  void* memory = lua_newuserdata(L, sizeof(Watch));
  auto* w = new (memory) Watch{};
  w->include_self = include_self;
  if (luaL_newmetatable(L, kWatchMeta)) {
    lua_pushcfunction(L, watch_gc);
    lua_setfield(L, -2, "__gc");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, trampoline<l_watch_changes>);
    lua_setfield(L, -2, "changes");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "haserf.watch");
    lua_setfield(L, -2, "__metatable");  // getmetatable() cannot reach __gc
  }
  lua_setmetatable(L, -2);
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"start", trampoline<l_start>},
    {"check_options", trampoline<l_check_options>},
    {"set_app_state", trampoline<l_set_app_state>},
    {"predecessor_state", trampoline<l_predecessor_state>},
    {"env_names", trampoline<l_env_names>},
    {"config_files", trampoline<l_config_files>},
    {"started", trampoline<l_started>},
    {"state", trampoline<l_state>},
    {"status", trampoline<l_status>},
    {"soft_stop", trampoline<l_soft_stop>},
    {"members", trampoline<l_members>},
    {"members_json", trampoline<l_members_json>},
    {"version", trampoline<l_version>},
    {"watch", trampoline<l_watch>},
    {"events", trampoline<l_events>},
    {"user_event", trampoline<l_user_event>},
    {"queries", trampoline<l_queries>},
    {"respond", trampoline<l_respond>},
    {"query", trampoline<l_query>},
    {"keys", trampoline<l_keys>},
    {"query_result", trampoline<l_query_result>},
    {"set_tags", trampoline<l_set_tags>},
    {"render", trampoline<l_render>},
    {"reload", trampoline<l_reload>},
    {"reload_status", trampoline<l_reload_status>},
    {"stats", trampoline<l_stats>},
    {"leave", trampoline<l_leave>},
    {"stop", trampoline<l_stop>},
    {"version_string", trampoline<l_version_string>},
    {"build_info", trampoline<l_build_info>},
    {nullptr, nullptr},
};

// Lua states of this process holding the module. Not per-ModuleState: a forked worker
// inherits the master's Lua states (and their sentinels) together with this counter.
std::atomic<int> g_lua_states{0};

// The sentinel's finalizer: when the last Lua state holding the module closes (HAProxy's
// deinit, the interpreter's exit), every thread of the module is joined, before Lua's own
// finalizer dlclose()s the library (finalizers run in reverse order of creation).
int sentinel_gc(lua_State*) {
  if (--g_lua_states > 0) return 0;
  try {
    if (auto* state = ModuleState::current()) state->shutdown();
  } catch (...) {
  }
  return 0;
}

}  // namespace

// Registers functions only: HAProxy runs this in the master process and in `haproxy -c`,
// so it must not start threads, open sockets or join anything.
extern "C" __attribute__((visibility("default"))) int luaopen_haserf(lua_State* L) {
  // HAProxy may chroot before the member starts; /proc must be reachable at stop time.
  haserf::bindings::keep_proc_open();
  luaL_newlib(L, kFunctions);
  // One sentinel per Lua state, anchored in the registry: only lua_close collects it.
  if (lua_getfield(L, LUA_REGISTRYINDEX, "haserf.sentinel") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newuserdata(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sentinel_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "haserf.sentinel");
    ++g_lua_states;
  } else {
    lua_pop(L, 1);
  }
  return 1;
}
