// SPDX-License-Identifier: MIT
#include "core/render/template.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>

#include "core/render/atomic_write.hpp"

namespace haserf::render {

struct TemplateLoader {
  const TemplateOptions& options;
  LoadedTemplate& out;
  std::vector<std::string> dirs;
  std::string clash;  // engine_copy's first renamed partial tag mstch would split elsewhere
  // Per engine text ("" for the template, NAME@DEPTH for a copy): the copies its partial
  // tags include, for the expansion bound.
  std::map<std::string, std::vector<std::string>> includes;

  static std::string folder_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
  }

  bool parse(TemplateSource& source, std::string& error) {
    auto parsed = parse_template(source.text);
    if (parsed.error) {
      error = source.path + ":" + std::to_string(parsed.error->line) + ": " + parsed.error->message;
      return false;
    }
    source.tags = std::move(parsed.tags);
    for (const auto& tag : source.tags) {
      if (tag.kind == TagKind::kComment || tag.kind == TagKind::kDelimiters) continue;
      if (tag.kind == TagKind::kPartial) continue;
      out.first_names_.insert(tag.name.substr(0, tag.name.find('.')));
      std::size_t start = 0;
      while (start <= tag.name.size()) {
        const std::size_t dot = std::min(tag.name.find('.', start), tag.name.size());
        out.names_.insert(tag.name.substr(start, dot - start));
        start = dot + 1;
      }
    }
    return true;
  }

  // Loads every partial `source` names, breadth first; each once.
  bool load_partials(const TemplateSource& source, std::deque<std::string>& queue,
                     std::string& error) {
    for (const auto& tag : source.tags) {
      if (tag.kind != TagKind::kPartial || out.partials_.count(tag.name)) continue;
      TemplateSource partial;
      bool found = false;
      std::string looked;
      for (const auto& dir : dirs) {
        partial.path = (dir == "/" ? "" : dir) + "/" + tag.name + ".mustache";
        if (read_file(partial.path, partial.text, nullptr)) {
          found = true;
          break;
        }
        looked += (looked.empty() ? "" : ", ") + dir;
      }
      if (!found) {
        if (!options.missing_partial_is_error) continue;
        error = source.path + ":" + std::to_string(tag.line) + ": partial '" + tag.name +
                "' not found (" + tag.name + ".mustache in " +
                (looked.empty() ? std::string("no folder: give --partials DIR") : looked) + ")";
        return false;
      }
      if (!parse(partial, error)) return false;
      queue.push_back(tag.name);
      out.partials_.emplace(tag.name, std::move(partial));
    }
    return true;
  }

  // `source` with each partial tag renamed NAME@DEPTH, or to the depth trap past the limit.
  std::string engine_copy(const TemplateSource& source, std::size_t depth,
                          std::deque<std::pair<std::string, std::size_t>>& wanted,
                          std::vector<std::string>& included) {
    std::string text;
    std::size_t copied = 0;
    for (const auto& tag : source.tags) {
      if (tag.kind != TagKind::kPartial) continue;
      text.append(source.text, copied, tag.begin - copied);
      copied = tag.end;
      std::string target;
      if (depth + 1 > kMaxPartialDepth) {
        target = "haserf@depth";
      } else if (out.partials_.count(tag.name)) {
        target = tag.name + "@" + std::to_string(depth + 1);
        wanted.emplace_back(tag.name, depth + 1);
        included.push_back(target);
      } else {
        target = tag.name + "@missing";  // renders as the empty string
      }
      std::string renamed = tag.open + ">" + target + tag.close;
      // mstch must end the renamed tag where it ends here: a closing delimiter such as '@' or
      // 'g' could also occur inside NAME@DEPTH, and mstch would then read the rest of the
      // template with its tags shifted, unchecked.
      if (renamed.find(tag.close, 1) != renamed.size() - tag.close.size() && clash.empty()) {
        clash = source.path + ":" + std::to_string(tag.line) + ": partial '" + tag.name +
                "': the closing delimiter '" + tag.close + "' occurs in '" + target +
                "', the name haserf gives the partial inside; use delimiters without letters, "
                "digits or '@'";
      }
      text += renamed;
    }
    text.append(source.text, copied, std::string::npos);
    return text;
  }

  bool load(std::string text, std::string path, std::string& error) {
    out.main_.path = std::move(path);
    out.main_.text = std::move(text);
    dirs = options.partial_dirs;
    if (options.search_template_dir) dirs.push_back(folder_of(out.main_.path));
    if (!parse(out.main_, error)) return false;
    std::deque<std::string> queue;
    if (!load_partials(out.main_, queue, error)) return false;
    while (!queue.empty()) {
      const std::string name = queue.front();
      queue.pop_front();
      if (!load_partials(out.partials_.at(name), queue, error)) return false;
    }
    if (out.partials_.empty()) {
      out.engine_text_ = out.main_.text;
      return true;
    }
    std::random_device random;
    out.depth_marker_ =
        "\x01haserf-partial-depth-" + std::to_string(random()) + std::to_string(random()) + "\x01";
    out.engine_partials_["haserf@depth"] = out.depth_marker_;
    std::deque<std::pair<std::string, std::size_t>> wanted;
    out.engine_text_ = engine_copy(out.main_, 0, wanted, includes[""]);
    while (!wanted.empty()) {
      auto [name, depth] = wanted.front();
      wanted.pop_front();
      const std::string key = name + "@" + std::to_string(depth);
      if (out.engine_partials_.count(key)) continue;
      out.engine_partials_[key] = engine_copy(out.partials_.at(name), depth, wanted, includes[key]);
    }
    if (!clash.empty()) {
      error = clash;
      return false;
    }
    std::map<std::string, std::uint64_t> memo;
    if (expansions("", memo) > kMaxPartialExpansions) {
      error = out.main_.path + ": partials expand to more than " +
              std::to_string(kMaxPartialExpansions) +
              " copies (partials that each include others several times, nested)";
      return false;
    }
    return true;
  }

  // Partial copies one render of `key` reaches if each tag renders once (sections over data
  // multiply it further), saturating above the bound. A partial that includes itself three
  // times would otherwise reach 3^10 copies at the depth limit, and ten times 10^10.
  std::uint64_t expansions(const std::string& key, std::map<std::string, std::uint64_t>& memo) {
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    std::uint64_t total = 1;
    for (const auto& target : includes[key]) {
      total += expansions(target, memo);
      if (total > kMaxPartialExpansions) break;
    }
    return memo[key] = std::min<std::uint64_t>(total, kMaxPartialExpansions + 1);
  }
};

LoadResult load_template(std::string text, std::string path, const TemplateOptions& options) {
  LoadResult result;
  try {
    auto tmpl = std::make_shared<LoadedTemplate>();
    TemplateLoader loader{options, *tmpl, {}, {}, {}};
    if (!loader.load(std::move(text), std::move(path), result.error)) return result;
    result.tmpl = std::move(tmpl);
  } catch (const std::exception& e) {
    result.error = std::string("loading the template failed: ") + e.what();
  }
  return result;
}

}  // namespace haserf::render
