#include "core/render/renderer.hpp"

#include <mstch/mstch.hpp>
#include <mutex>

#include "core/render/template_check.hpp"
#include "core/render/value_safety.hpp"

namespace haserf::render {
namespace {

// mstch HTML-escapes {{x}} by default, which is wrong for config files ("&" would become
// "&amp;"). Values are made safe by the charset checks instead. The hook is a process-wide
// global in mstch, so it is set once.
void disable_html_escaping() {
  static std::once_flag once;
  std::call_once(once, [] { mstch::config::escape = [](const std::string& s) { return s; }; });
}

mstch::map member_node(const table::Member& m) {
  mstch::map tags;
  mstch::array tag_list;
  for (const auto& [key, value] : m.tags) {
    tags.emplace(key, value);
    tag_list.push_back(mstch::map{{"key", key}, {"value", value}});
  }
  return mstch::map{
      {"name", m.name},
      {"addr", m.addr},
      {"port", std::to_string(m.port)},
      {"status", std::string(table::to_string(m.status))},
      {"alive", m.status == table::MemberStatus::kAlive},
      {"tags", std::move(tags)},
      {"tag_list", std::move(tag_list)},
      {"has_tags", !m.tags.empty()},
  };
}

// A list with positional helpers (index from 0, ordinal from 1, first, last), which config
// templates need for numbering servers and separating items.
mstch::array member_list(const std::vector<const mstch::map*>& nodes) {
  mstch::array list;
  list.reserve(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    mstch::map node = *nodes[i];
    node["index"] = std::to_string(i);
    node["ordinal"] = std::to_string(i + 1);
    node["first"] = i == 0;
    node["last"] = i + 1 == nodes.size();
    list.push_back(std::move(node));
  }
  return list;
}

}  // namespace

const std::vector<std::string>& reserved_context_names() {
  static const std::vector<std::string> names = {"members", "alive",  "by_tag",
                                                 "counts",  "vars",   "version",
                                                 "has_members", "has_alive"};
  return names;
}

RenderResult render(std::string_view template_text, std::string_view template_name,
                    const table::Snapshot& snapshot, const Vars& vars) {
  RenderResult result;
  if (auto err = check_template(template_text)) {
    result.error = std::string(template_name) + ":" + std::to_string(err->line) + ": " +
                   err->message;
    return result;
  }
  try {
    disable_html_escaping();
    std::vector<mstch::map> nodes;  // one per safe member, in name order
    std::vector<const table::Member*> members;
    nodes.reserve(snapshot.size());
    for (const auto& m : snapshot.members()) {
      if (auto bad = find_unsafe_field(*m)) {
        ++result.excluded;
        result.warnings.push_back("member " + printable(m->name) + " left out: field " +
                                  bad->field + " has unsafe value \"" + bad->value + "\"");
        continue;
      }
      nodes.push_back(member_node(*m));
      members.push_back(m.get());
    }

    std::vector<const mstch::map*> all, alive;
    // by_tag[key][value] -> alive members carrying that tag value.
    std::map<std::string, std::map<std::string, std::vector<const mstch::map*>>> groups;
    std::map<std::string, std::size_t> by_status;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      all.push_back(&nodes[i]);
      ++by_status[std::string(table::to_string(members[i]->status))];
      if (members[i]->status != table::MemberStatus::kAlive) continue;
      alive.push_back(&nodes[i]);
      for (const auto& [key, value] : members[i]->tags) groups[key][value].push_back(&nodes[i]);
    }

    mstch::map by_tag;
    for (auto& [key, values] : groups) {
      mstch::map per_value;
      for (auto& [value, list] : values) per_value.emplace(value, member_list(list));
      by_tag.emplace(key, std::move(per_value));
    }
    mstch::map counts{{"total", std::to_string(all.size())},
                      {"excluded", std::to_string(result.excluded)}};
    for (const char* s : {"alive", "leaving", "left", "failed", "suspect"}) {
      counts[s] = std::to_string(by_status[s]);
    }

    mstch::map var_map;
    for (const auto& [k, v] : vars) {
      if (!is_safe_var_value(v)) {
        result.error = "variable '" + k + "' contains a control character";
        return result;
      }
      var_map.emplace(k, v);
    }
    mstch::map context{
        {"members", member_list(all)},
        {"alive", member_list(alive)},
        {"has_members", !all.empty()},
        {"has_alive", !alive.empty()},
        {"by_tag", std::move(by_tag)},
        {"counts", std::move(counts)},
        {"version", std::to_string(snapshot.version())},
        {"vars", var_map},
    };
    // Variables are also reachable by bare name, unless they would hide a built-in.
    for (const auto& [k, v] : vars) context.emplace(k, v);

    result.output = mstch::render(std::string(template_text), context);
  } catch (const std::exception& e) {
    result.error = std::string(template_name) + ": render failed: " + e.what();
    result.output.clear();
  }
  return result;
}

}  // namespace haserf::render
