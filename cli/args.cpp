// SPDX-License-Identifier: MIT
#include "cli/args.hpp"

namespace haserf::cli {

bool Args::parse(int argc, char** argv, int first, const std::vector<OptionSpec>& specs,
                 std::string& error) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
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
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      for (const auto& s : specs) {
        if (s.long_name == name) spec = &s;
      }
    } else if (arg.size() >= 2) {
      for (const auto& s : specs) {
        if (s.short_name == arg[1]) spec = &s;
      }
      if (spec && arg.size() > 2) inline_value = arg.substr(2);
    }
    if (!spec) {
      error = "unknown option '" + arg + "'";
      return false;
    }
    if (!spec->takes_value) {
      if (inline_value) {
        error = "option '--" + spec->long_name + "' takes no value";
        return false;
      }
      values_[spec->long_name].push_back("");
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
