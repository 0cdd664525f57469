// SPDX-License-Identifier: MIT
#include "core/render/renderer.hpp"

#include <mstch/mstch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/render/value_safety.hpp"

namespace haserf::render {
namespace {

using Node = mstch::node;
using Map = mstch::map;
using Array = mstch::array;

// mstch's escape hook is one process-wide function: it is installed once and asks a
// thread-local flag, so concurrent renders (HAProxy threads, the reload job) each get their own
// escaping without a lock.
thread_local bool escape_html = false;

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void install_escape_hook() {
  static std::once_flag once;
  std::call_once(once, [] {
    mstch::config::escape = [](const std::string& s) { return escape_html ? html_escape(s) : s; };
  });
}

// JSON as mstch sees it. Numbers stay numbers (0 is false in a section, as in JSON engines)
// unless mstch would print them differently from the JSON text (integers beyond int, doubles
// that need more than 6 significant digits): those become the JSON text.
Node json_node(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return nullptr;
    case nlohmann::json::value_t::boolean:
      return j.get<bool>();
    case nlohmann::json::value_t::number_integer: {
      const auto v = j.get<std::int64_t>();
      if (v >= INT32_MIN && v <= INT32_MAX) return static_cast<int>(v);
      return j.dump();
    }
    case nlohmann::json::value_t::number_unsigned: {
      const auto v = j.get<std::uint64_t>();
      if (v <= INT32_MAX) return static_cast<int>(v);
      return j.dump();
    }
    case nlohmann::json::value_t::number_float: {
      const double d = j.get<double>();
      std::ostringstream printed;
      printed << d;  // what mstch prints for a double
      if (std::stod(printed.str()) == d) return d;
      return j.dump();
    }
    case nlohmann::json::value_t::string:
      return j.get<std::string>();
    case nlohmann::json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& item : j) a.push_back(json_node(item));
      return a;
    }
    case nlohmann::json::value_t::object: {
      Map m;
      for (auto it = j.begin(); it != j.end(); ++it) m.emplace(it.key(), json_node(it.value()));
      return m;
    }
    default:
      return nullptr;
  }
}

// Which member fields a template can reach: its first name segments, looked up once per render.
struct MemberFields {
  explicit MemberFields(const LoadedTemplate& t)
      : t(t),
        name(t.uses_first("name")),
        addr(t.uses_first("addr")),
        port(t.uses_first("port")),
        status(t.uses_first("status")),
        alive(t.uses_first("alive")),
        has_tags(t.uses_first("has_tags")),
        tags(t.uses_first("tags")),
        tag_list(t.uses_first("tag_list")),
        index(t.uses_first("index")),
        ordinal(t.uses_first("ordinal")),
        first(t.uses_first("first")),
        last(t.uses_first("last")) {}
  const LoadedTemplate& t;
  bool name, addr, port, status, alive, has_tags, tags, tag_list;
  bool index, ordinal, first, last;  // positional helpers
};

// A member as mstch sees it: a map with only the fields a template can reach and only the
// tags it names. Maps rather than mstch::object: an object's per-instance method table costs
// more than a few map nodes, and object::at rebuilds its cached value on every lookup while
// mstch may still point into the previous one.
Map member_fields(const table::Member& m, const MemberFields& f) {
  Map node;
  if (f.name) node.emplace("name", m.name);
  if (f.addr) node.emplace("addr", m.addr);
  if (f.port) node.emplace("port", static_cast<int>(m.port));
  if (f.status) node.emplace("status", std::string(table::to_string(m.status)));
  if (f.alive) node.emplace("alive", m.status == table::MemberStatus::kAlive);
  if (f.has_tags) node.emplace("has_tags", !m.tags.empty());
  if (f.tags) {
    Map tags;
    for (const auto& [key, value] : m.tags) {
      if (f.t.uses(key)) tags.emplace(key, value);
    }
    node.emplace("tags", std::move(tags));
  }
  if (f.tag_list) {
    Array list;
    list.reserve(m.tags.size());
    for (const auto& [key, value] : m.tags) list.push_back(Map{{"key", key}, {"value", value}});
    node.emplace("tag_list", std::move(list));
  }
  return node;
}

// A list with positional helpers (index from 0, ordinal from 1, first, last), which config
// templates need for numbering servers and separating items.
Array member_list(const std::vector<const table::Member*>& members, const MemberFields& f) {
  Array list;
  list.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    Map node = member_fields(*members[i], f);
    if (f.index) node.emplace("index", static_cast<int>(i));
    if (f.ordinal) node.emplace("ordinal", static_cast<int>(i + 1));
    if (f.first) node.emplace("first", i == 0);
    if (f.last) node.emplace("last", i + 1 == members.size());
    list.push_back(std::move(node));
  }
  return list;
}

void add_members(Map& root, const table::Snapshot& snapshot, const LoadedTemplate& t,
                 RenderResult& result) {
  std::vector<const table::Member*> all, alive;  // safe members, in name order
  // by_tag[key][value] -> alive members carrying that tag value (only keys and values a
  // template names: by_tag.role.backend).
  std::map<std::string, std::map<std::string, std::vector<const table::Member*>>> groups;
  static_assert(static_cast<int>(table::MemberStatus::kSuspect) == 5);
  int by_status[6] = {};  // indexed by table::MemberStatus
  const bool want_groups = t.uses_first("by_tag");
  all.reserve(snapshot.size());
  for (const auto& m : snapshot.members()) {
    if (!m->rejected.empty()) {  // the table's MemberPolicy said no
      ++result.excluded;
      result.warnings.push_back("member " + table::printable(m->name) +
                                " left out: " + m->rejected);
      continue;
    }
    all.push_back(m.get());
    ++by_status[static_cast<int>(m->status)];
    if (m->status != table::MemberStatus::kAlive) continue;
    alive.push_back(m.get());
    if (!want_groups) continue;
    for (const auto& [key, value] : m->tags) {
      if (t.uses(key) && t.uses(value)) groups[key][value].push_back(m.get());
    }
  }
  const MemberFields fields(t);
  if (t.uses_first("members")) root.insert_or_assign("members", member_list(all, fields));
  if (t.uses_first("alive")) root.insert_or_assign("alive", member_list(alive, fields));
  root.insert_or_assign("has_members", !all.empty());
  root.insert_or_assign("has_alive", !alive.empty());
  if (want_groups) {
    Map by_tag;
    for (auto& [key, values] : groups) {
      Map per_value;
      for (auto& [value, list] : values) per_value.emplace(value, member_list(list, fields));
      by_tag.emplace(key, std::move(per_value));
    }
    root.insert_or_assign("by_tag", std::move(by_tag));
  }
  Map counts;
  counts.emplace("total", static_cast<int>(all.size()));
  counts.emplace("excluded", static_cast<int>(result.excluded));
  for (auto status :
       {table::MemberStatus::kAlive, table::MemberStatus::kLeaving, table::MemberStatus::kLeft,
        table::MemberStatus::kFailed, table::MemberStatus::kSuspect}) {
    counts.emplace(std::string(table::to_string(status)), by_status[static_cast<int>(status)]);
  }
  root.insert_or_assign("counts", std::move(counts));
  root.insert_or_assign("version", std::to_string(snapshot.version()));
}

// ---- --strict: the names a render would look up, resolved the way mstch resolves them.

bool node_empty(const Node& n) {
  if (boost::get<std::nullptr_t>(&n)) return true;
  if (auto* b = boost::get<bool>(&n)) return !*b;
  if (auto* i = boost::get<int>(&n)) return *i == 0;
  if (auto* d = boost::get<double>(&n)) return *d == 0;
  if (auto* s = boost::get<std::string>(&n)) return s->empty();
  if (auto* a = boost::get<Array>(&n)) return a->empty();
  return false;
}

const Node* child(const Node& n, const std::string& key) {
  if (key == ".") return &n;
  auto* m = boost::get<Map>(&n);
  if (!m) return nullptr;
  auto it = m->find(key);
  return it == m->end() ? nullptr : &it->second;
}

struct StrictWalk {
  const LoadedTemplate& t;
  std::vector<const Node*> stack;  // innermost last
  std::string error;

  const Node* resolve(const std::string& name) const {
    if (name == ".") return stack.back();
    const std::size_t dot = name.find('.');
    const std::string first = name.substr(0, dot);
    const Node* found = nullptr;
    for (auto it = stack.rbegin(); it != stack.rend() && !found; ++it) found = child(**it, first);
    std::size_t start = dot;
    while (found && start != std::string::npos) {
      const std::size_t next = name.find('.', start + 1);
      found = child(*found,
                    name.substr(start + 1, next == std::string::npos ? next : next - start - 1));
      start = next;
    }
    return found;
  }

  bool walk(const TemplateSource& source, std::size_t from, std::size_t to, std::size_t depth) {
    for (std::size_t i = from; i < to; ++i) {
      const Tag& tag = source.tags[i];
      switch (tag.kind) {
        case TagKind::kVariable:
        case TagKind::kUnescaped:
          if (!resolve(tag.name)) {
            error = source.path + ":" + std::to_string(tag.line) + ": '" + tag.name +
                    "' resolves to nothing (--strict)";
            return false;
          }
          break;
        case TagKind::kSection: {
          const Node* value = resolve(tag.name);
          if (value && !node_empty(*value)) {
            if (auto* list = boost::get<Array>(value)) {
              for (const auto& item : *list) {
                stack.push_back(&item);
                const bool ok = walk(source, i + 1, tag.match, depth);
                stack.pop_back();
                if (!ok) return false;
              }
            } else {
              stack.push_back(value);
              const bool ok = walk(source, i + 1, tag.match, depth);
              stack.pop_back();
              if (!ok) return false;
            }
          }
          i = tag.match;
          break;
        }
        case TagKind::kInverted: {
          const Node* value = resolve(tag.name);
          if ((!value || node_empty(*value)) && !walk(source, i + 1, tag.match, depth)) {
            return false;
          }
          i = tag.match;
          break;
        }
        case TagKind::kPartial: {
          auto it = t.partials().find(tag.name);
          if (it != t.partials().end() && depth < kMaxPartialDepth &&
              !walk(it->second, 0, it->second.tags.size(), depth + 1)) {
            return false;
          }
          break;
        }
        default:
          break;
      }
    }
    return true;
  }
};

}  // namespace

const std::vector<std::string>& reserved_context_names() {
  static const std::vector<std::string> names = {"members", "alive",   "by_tag",      "counts",
                                                 "vars",    "version", "has_members", "has_alive"};
  return names;
}

RenderResult render(const LoadedTemplate& tmpl, const table::Snapshot* snapshot, const Vars& vars,
                    const RenderOptions& options) {
  RenderResult result;
  try {
    for (const auto& [k, v] : vars) {
      if (!is_safe_var_value(v)) {
        result.error = "variable '" + k + "' contains a control character";
        return result;
      }
    }
    Node root;
    if (options.data && !options.data->is_object() && !options.data->is_null()) {
      if (snapshot || !vars.empty()) {
        result.error =
            "data that is not a JSON object can only be the whole context (no members, no --var)";
        return result;
      }
      root = json_node(*options.data);
    } else {
      Map map;
      if (options.data && options.data->is_object())
        map = boost::get<Map>(json_node(*options.data));
      // Variables are reachable by bare name too, unless they would hide a built-in (set after).
      for (const auto& [k, v] : vars) map.insert_or_assign(k, v);
      if (!vars.empty() || snapshot) {
        Map var_map;
        for (const auto& [k, v] : vars) var_map.emplace(k, v);
        map.insert_or_assign("vars", std::move(var_map));
      }
      if (snapshot) add_members(map, *snapshot, tmpl, result);
      root = std::move(map);
    }
    if (options.strict) {
      StrictWalk walk{tmpl, {&root}, {}};
      if (!walk.walk(tmpl.main(), 0, tmpl.main().tags.size(), 0)) {
        result.error = walk.error;
        return result;
      }
    }
    install_escape_hook();
    escape_html = options.escape == Escape::kHtml;
    result.output = mstch::render(tmpl.engine_text(), root, tmpl.engine_partials());
    if (!tmpl.depth_marker().empty() &&
        result.output.find(tmpl.depth_marker()) != std::string::npos) {
      result.output.clear();
      result.error = tmpl.main().path + ": partials nest deeper than " +
                     std::to_string(kMaxPartialDepth) + " (a partial that includes itself?)";
    }
  } catch (const std::exception& e) {
    result.error = tmpl.main().path + ": render failed: " + e.what();
    result.output.clear();
  }
  return result;
}

RenderResult render(std::string_view template_text, std::string_view template_name,
                    const table::Snapshot& snapshot, const Vars& vars) {
  TemplateOptions options;
  options.search_template_dir = false;
  auto loaded = load_template(std::string(template_text), std::string(template_name), options);
  if (!loaded.ok()) {
    RenderResult result;
    result.error = loaded.error;
    return result;
  }
  return render(*loaded.tmpl, &snapshot, vars);
}

bool parse_data(std::string_view text, const std::string& name, nlohmann::json& out,
                std::string& error) {
  // json_node converts level by level, recursively: refuse deep documents while parsing.
  constexpr int kMaxDepth = 64;
  struct TooDeep {};
  auto limit_depth = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= kMaxDepth) {
      throw TooDeep{};
    }
    return true;
  };
  try {
    out = nlohmann::json::parse(text, limit_depth);
  } catch (const TooDeep&) {
    error = name + ": data nests deeper than " + std::to_string(kMaxDepth) + " levels";
    return false;
  } catch (const nlohmann::json::parse_error& e) {
    error = name + ": not valid JSON: " + e.what();
    return false;
  }
  return true;
}

void merge_data(nlohmann::json& into, nlohmann::json more) {
  if (!into.is_object() || !more.is_object()) {
    into = std::move(more);
    return;
  }
  for (auto it = more.begin(); it != more.end(); ++it) {
    auto existing = into.find(it.key());
    if (existing == into.end()) {
      into[it.key()] = std::move(it.value());
    } else {
      merge_data(*existing, std::move(it.value()));
    }
  }
}

}  // namespace haserf::render
