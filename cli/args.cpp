// SPDX-License-Identifier: MIT
#include "cli/args.hpp"

#include <algorithm>
#include <cctype>

namespace haserf::cli {

namespace {

// Edit distance with transpositions (optimal string alignment), for "did you mean" on a
// typo: "bnid" is one edit from "bind". Names are short: O(n*m) is nothing.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string nearest_name(const std::string& typed, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_distance = 0;
  for (const auto& n : names) {
    const std::size_t d = edit_distance(typed, n);
    // Close enough to be a typo: at most 2 edits, and fewer than half the name.
    if (d <= 2 && d * 2 < std::max<std::size_t>(n.size(), 2) &&
        (best.empty() || d < best_distance)) {
      best = n;
      best_distance = d;
    }
  }
  return best;
}

bool Args::parse(int argc, char** argv, int first, const std::vector<OptionSpec>& specs,
                 std::string& error) {
  const auto find_long = [&](const std::string& name) -> const OptionSpec* {
    for (const auto& s : specs) {
      if (s.long_name == name) return &s;
    }
    return nullptr;
  };
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      help_ = true;
      continue;
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) positional_.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string typed;  // the long name as given, for the error and its suggestion
    // --name, --name=value, and serf's (Go flag's) single-dash -name, -name=value. A single
    // dash names a long option whenever one matches; otherwise it is a short option, with
    // what follows as its value (-fjson).
    const bool double_dash = arg.rfind("--", 0) == 0;
    std::string name = arg.substr(double_dash ? 2 : 1);
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    typed = name;
    spec = find_long(name);
    std::vector<std::string> names{"help"};
    for (const auto& s : specs) names.push_back(s.long_name);
    // -bnid is a typo of -bind, not -b with the value "nid".
    if (!spec && !double_dash && name.size() > 1) {
      if (const auto near = nearest_name(name, names); !near.empty()) {
        error = "unknown option '" + arg + "' (did you mean '--" + near + "'?)";
        return false;
      }
    }
    if (!spec && !double_dash) {
      inline_value.reset();
      for (const auto& s : specs) {
        if (s.short_name != 0 && s.short_name == arg[1]) spec = &s;
      }
      if (spec && arg.size() > 2) inline_value = arg.substr(2);
    }
    if (!spec) {
      error = "unknown option '" + arg + "'";
      if (const auto near = nearest_name(typed, names); !near.empty()) {
        error += " (did you mean '--" + near + "'?)";
      }
      return false;
    }
    if (!spec->takes_value) {
      // Go's boolean flags also take -flag=true / -flag=false.
      if (inline_value && *inline_value != "true" && *inline_value != "1" &&
          *inline_value != "false" && *inline_value != "0") {
        error = "option '--" + spec->long_name + "' takes no value (or =true, =false)";
        return false;
      }
      if (inline_value && (*inline_value == "false" || *inline_value == "0")) {
        values_.erase(spec->long_name);
      } else {
        values_[spec->long_name].push_back("");
      }
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = "option '--" + spec->long_name + "' needs a value";
      return false;
    }
    auto& slot = values_[spec->long_name];
    if (!spec->repeatable && !slot.empty()) {
      error = "option '--" + spec->long_name + "' given twice";
      return false;
    }
    slot.push_back(std::move(value));
  }
  return true;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::origin(const std::string& name) const {
  auto it = env_origin_.find(name);
  return it != env_origin_.end() ? it->second : "--" + name;
}

std::string Args::env_name(const std::string& prefix, const OptionSpec& spec) {
  if (spec.env) return spec.env;
  std::string name = prefix;
  for (char c : spec.long_name) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

bool Args::add_environment(const std::string& prefix, const std::vector<OptionSpec>& specs,
                           const std::vector<std::vector<std::string>>& groups,
                           const Getenv& getenv, std::string& error,
                           std::vector<std::string>* used) {
  const auto group_given = [&](const std::string& name) {
    for (const auto& g : groups) {
      if (std::find(g.begin(), g.end(), name) == g.end()) continue;
      for (const auto& other : g) {
        if (env_origin_.count(other) == 0 && has(other)) return true;
      }
    }
    return false;
  };
  for (const auto& spec : specs) {
    const std::string var = env_name(prefix, spec);
    if (var.empty() || has(spec.long_name) || group_given(spec.long_name)) continue;
    const char* text = getenv(var.c_str());
    if (!text) continue;
    const std::string value = text;
    std::vector<std::string> values;
    if (!spec.takes_value) {
      std::string v = value;
      for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (v == "1" || v == "true" || v == "yes" || v == "on") {
        values.push_back("");
      } else if (!(v.empty() || v == "0" || v == "false" || v == "no" || v == "off")) {
        error = var + "='" + value + "': --" + spec.long_name + " is a flag: give true or false";
        return false;
      }
    } else if (spec.repeatable) {
      std::size_t start = 0;
      while (start <= value.size()) {
        std::size_t end = value.find(spec.env_separator, start);
        if (end == std::string::npos) end = value.size();
        std::string item = value.substr(start, end - start);
        const auto first = item.find_first_not_of(" \t\r\n");
        const auto last = item.find_last_not_of(" \t\r\n");
        if (first != std::string::npos) values.push_back(item.substr(first, last - first + 1));
        start = end + 1;
      }
    } else if (!value.empty()) {
      values.push_back(value);
    }
    if (values.empty()) continue;  // empty or false: as if unset
    values_[spec.long_name] = std::move(values);
    env_origin_[spec.long_name] = var;
    if (used) used->push_back(var);
  }
  return true;
}

std::string env_help(const std::string& prefix, const std::string& example) {
  return "\nEvery option also comes from the environment (the command line wins): " + prefix +
         " +\nthe long name in upper case with '-' as '_', e.g. " + example +
         ".\nFlags take true or false; repeatable options a comma-separated list.\n";
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

bool parse_duration(const std::string& text, std::chrono::milliseconds& out) {
  std::size_t pos = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &pos);
  } catch (...) {
    return false;
  }
  if (value < 0 || value > (1LL << 40)) return false;
  constexpr long long kMaxMs = 365LL * 24 * 3600 * 1000;  // a year: no overflow downstream
  const std::string unit = text.substr(pos);
  long long scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s" || unit.empty()) {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60000;
  } else if (unit == "h") {
    scale = 3600000;
  } else {
    return false;
  }
  if (value > kMaxMs / scale) return false;
  out = std::chrono::milliseconds(value * scale);
  return true;
}

}  // namespace haserf::cli
