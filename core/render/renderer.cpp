#include "core/render/renderer.hpp"

#include <kainjow/mustache.hpp>

#include "core/render/template_check.hpp"
#include "core/render/value_safety.hpp"

namespace haserf::render {
namespace {

// kainjow's mustache (Debian libkainjow-mustache-dev) is header-only, so it can live inside
// the Lua module's shared object; Debian's mstch is a non-PIC static archive that cannot.
using Data = kainjow::mustache::data;

Data member_node(const table::Member& m) {
  Data tags{Data::type::object};
  Data tag_list{Data::type::list};
  for (const auto& [key, value] : m.tags) {
    tags.set(key, value);
    Data pair{Data::type::object};
    pair.set("key", key);
    pair.set("value", value);
    tag_list.push_back(pair);
  }
  Data node{Data::type::object};
  node.set("name", m.name);
  node.set("addr", m.addr);
  node.set("port", std::to_string(m.port));
  node.set("status", std::string(table::to_string(m.status)));
  node.set("alive", Data(m.status == table::MemberStatus::kAlive));
  node.set("tags", tags);
  node.set("tag_list", tag_list);
  node.set("has_tags", Data(!m.tags.empty()));
  return node;
}

// A list with positional helpers (index from 0, ordinal from 1, first, last), which config
// templates need for numbering servers and separating items.
Data member_list(const std::vector<const Data*>& nodes) {
  Data list{Data::type::list};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    Data node = *nodes[i];
    node.set("index", std::to_string(i));
    node.set("ordinal", std::to_string(i + 1));
    node.set("first", Data(i == 0));
    node.set("last", Data(i + 1 == nodes.size()));
    list.push_back(node);
  }
  return list;
}

}  // namespace

const std::vector<std::string>& reserved_context_names() {
  static const std::vector<std::string> names = {"members", "alive",   "by_tag",      "counts",
                                                 "vars",    "version", "has_members", "has_alive"};
  return names;
}

RenderResult render(std::string_view template_text, std::string_view template_name,
                    const table::Snapshot& snapshot, const Vars& vars) {
  RenderResult result;
  if (auto err = check_template(template_text)) {
    result.error =
        std::string(template_name) + ":" + std::to_string(err->line) + ": " + err->message;
    return result;
  }
  try {
    std::vector<Data> nodes;  // one per safe member, in name order
    std::vector<const table::Member*> members;
    nodes.reserve(snapshot.size());
    for (const auto& m : snapshot.members()) {
      if (!m->rejected.empty()) {  // the table's MemberPolicy said no
        ++result.excluded;
        result.warnings.push_back("member " + table::printable(m->name) +
                                  " left out: " + m->rejected);
        continue;
      }
      nodes.push_back(member_node(*m));
      members.push_back(m.get());
    }

    std::vector<const Data*> all, alive;
    // by_tag[key][value] -> alive members carrying that tag value.
    std::map<std::string, std::map<std::string, std::vector<const Data*>>> groups;
    std::map<std::string, std::size_t> by_status;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      all.push_back(&nodes[i]);
      ++by_status[std::string(table::to_string(members[i]->status))];
      if (members[i]->status != table::MemberStatus::kAlive) continue;
      alive.push_back(&nodes[i]);
      for (const auto& [key, value] : members[i]->tags) groups[key][value].push_back(&nodes[i]);
    }

    Data by_tag{Data::type::object};
    for (auto& [key, values] : groups) {
      Data per_value{Data::type::object};
      for (auto& [value, list] : values) per_value.set(value, member_list(list));
      by_tag.set(key, per_value);
    }
    Data counts{Data::type::object};
    counts.set("total", std::to_string(all.size()));
    counts.set("excluded", std::to_string(result.excluded));
    for (const char* s : {"alive", "leaving", "left", "failed", "suspect"}) {
      counts.set(s, std::to_string(by_status[s]));
    }

    Data var_map{Data::type::object};
    for (const auto& [k, v] : vars) {
      if (!is_safe_var_value(v)) {
        result.error = "variable '" + k + "' contains a control character";
        return result;
      }
      var_map.set(k, v);
    }
    Data context{Data::type::object};
    // Variables are reachable by bare name too, unless they would hide a built-in (set after).
    for (const auto& [k, v] : vars) context.set(k, v);
    context.set("members", member_list(all));
    context.set("alive", member_list(alive));
    context.set("has_members", Data(!all.empty()));
    context.set("has_alive", Data(!alive.empty()));
    context.set("by_tag", by_tag);
    context.set("counts", counts);
    context.set("version", std::to_string(snapshot.version()));
    context.set("vars", var_map);

    kainjow::mustache::mustache engine{std::string(template_text)};
    if (!engine.is_valid()) {
      result.error = std::string(template_name) + ": " + engine.error_message();
      return result;
    }
    // Config files, not HTML: no escaping (values were made safe by the charset checks).
    engine.set_custom_escape([](const std::string& s) { return s; });
    result.output = engine.render(context);
    if (!engine.is_valid()) {
      result.error = std::string(template_name) + ": render failed: " + engine.error_message();
      result.output.clear();
    }
  } catch (const std::exception& e) {
    result.error = std::string(template_name) + ": render failed: " + e.what();
    result.output.clear();
  }
  return result;
}

}  // namespace haserf::render
