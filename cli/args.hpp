// SPDX-License-Identifier: MIT
// A small command-line parser: long and short options with values, repeatable options,
// flags, and errors that name the offending option (and the option meant, on a typo).
// serf's habits work too: -name, -name=value (Go's flag syntax) and -flag=true/false.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace haserf::cli {

struct OptionSpec {
  std::string long_name;  // "template"
  char short_name = 0;    // 't'
  bool takes_value = true;
  bool repeatable = false;
  // Its environment variable when not PREFIX + NAME (see Args::add_environment); "" = none.
  const char* env = nullptr;
  // What separates a repeatable option's values in its environment variable: ',' as the
  // glue's HASERF_JOIN and HASERF_TAGS, '\n' where a value may hold commas (event handlers).
  char env_separator = ',';
};

class Args {
 public:
  // Parses argv[first..argc). Returns false with `error` set on unknown options or a
  // missing value. `--help`/`-h` set help().
  bool parse(int argc, char** argv, int first, const std::vector<OptionSpec>& specs,
             std::string& error);

  bool help() const { return help_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  // Where an option's value came from: "HASERF_BIND" for the environment, else "--bind".
  std::string origin(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Values from elsewhere (a config file): `front` goes before what the command line gave
  // (repeatable options: the file's values come first, as serf appends); otherwise only
  // fills an option the command line did not give.
  void add_defaults(const std::string& name, const std::vector<std::string>& values,
                    bool repeatable) {
    auto& slot = values_[name];
    if (repeatable) {
      slot.insert(slot.begin(), values.begin(), values.end());
    } else if (slot.empty()) {
      slot = values;
    }
    if (slot.empty()) values_.erase(name);
  }

  // Options the command line did not give, from the environment: PREFIX + the long name in
  // upper case with '-' as '_' (HASERF_ + BIND), or the spec's own `env` name. Flags take
  // 1/true/yes/on or 0/false/no/off. A variable is ignored when the command line gave an
  // option of the same `group` (e.g. the source options --members and --join: a source
  // typed on the command line is never turned into "two sources" by the environment).
  // Returns false with `error` naming the variable on a value that cannot be one. `used`
  // gets the variables taken.
  using Getenv = std::function<const char*(const char*)>;
  bool add_environment(const std::string& prefix, const std::vector<OptionSpec>& specs,
                       const std::vector<std::vector<std::string>>& groups, const Getenv& getenv,
                       std::string& error, std::vector<std::string>* used = nullptr);
  // The variable add_environment reads for `spec` ("" when none).
  static std::string env_name(const std::string& prefix, const OptionSpec& spec);

 private:
  bool help_ = false;
  std::map<std::string, std::string> env_origin_;  // option -> the variable it came from
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// One line for --help: where options come from besides the command line.
std::string env_help(const std::string& prefix, const std::string& example);

// The name in `names` within two edits of `typed` (the closest), or "": for "did you mean".
std::string nearest_name(const std::string& typed, const std::vector<std::string>& names);

// "500ms", "30s", "2m", "1h", or a plain number of seconds. False on anything else or a
// negative value.
bool parse_duration(const std::string& text, std::chrono::milliseconds& out);

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the job could not be done (bad input, unreachable seed...)
constexpr int kExitUsage = 2;    // the command line is wrong

}  // namespace haserf::cli
