// SPDX-License-Identifier: MIT
// serf's agent config keys (serf 0.9.4 cmd/serf/command/agent/config.go) mapped onto haserf.
#include "cli/agent_config_file.hpp"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/args.hpp"
#include "core/render/atomic_write.hpp"

namespace haserf::cli {
namespace {

using json = nlohmann::json;

// serf durations ("30s", "24h", "1m30s", "500ms"): Go's time.ParseDuration, the common forms.
bool parse_go_duration(const std::string& text, std::chrono::milliseconds& out) {
  if (parse_duration(text, out)) return true;
  // Compound values such as "1h30m".
  std::size_t i = 0;
  double total_ms = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) {
      ++j;
    }
    if (j == i) return false;
    char* end = nullptr;
    const std::string number = text.substr(i, j - i);
    const double n = std::strtod(number.c_str(), &end);
    if (end == number.c_str() || *end != '\0' || !(n >= 0) || n > 1e9) return false;
    std::size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    const double mult = unit == "h"    ? 3600000.0
                        : unit == "m"  ? 60000.0
                        : unit == "s"  ? 1000.0
                        : unit == "ms" ? 1.0
                                       : -1.0;
    if (mult < 0) return false;
    total_ms += n * mult;
    i = k;
  }
  if (total_ms > 366.0 * 24 * 3600 * 1000) return false;  // parse_duration's cap: a year
  out = std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
  return true;
}

}  // namespace

bool read_agent_config_file(const std::string& path, AgentFileConfig& into, std::string& error) {
  std::string text;
  if (!render::read_file(path, text, &error)) return false;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    error = path + ": not JSON: " + e.what();
    return false;
  }
  if (!j.is_object()) {
    error = path + ": expected a JSON object";
    return false;
  }
  into.files.push_back(path);
  std::vector<std::string> unknown;
  const auto type_error = [&](const std::string& key, const char* want) {
    error = path + ": \"" + key + "\" must be " + want;
    return false;
  };
  auto set = [&](const char* option, const std::string& value) { into.options[option] = {value}; };
  for (const auto& [key, v] : j.items()) {
    // Strings mapped one to one onto an option.
    static const std::map<std::string, const char*> kStringOptions = {
        {"node_name", "node"},
        {"bind", "bind"},
        {"advertise", "advertise"},
        {"encrypt_key", "encrypt"},
        {"keyring_file", "keyring-file"},
        {"rpc_addr", "rpc-addr"},
        {"rpc_auth", "rpc-auth"},
        {"profile", "profile"},
        {"snapshot_path", "snapshot"},
        {"tags_file", "tags-file"},
        {"retry_interval", "retry-interval"}};
    static const std::map<std::string, const char*> kListOptions = {
        {"start_join", "join"}, {"retry_join", "retry-join"}, {"event_handlers", "event-handler"}};
    if (auto it = kStringOptions.find(key); it != kStringOptions.end()) {
      if (!v.is_string()) return type_error(key, "a string");
      set(it->second, v.get<std::string>());
    } else if (auto lt = kListOptions.find(key); lt != kListOptions.end()) {
      if (!v.is_array()) return type_error(key, "an array of strings");
      auto& slot = into.options[lt->second];
      for (const auto& item : v) {
        if (!item.is_string()) return type_error(key, "an array of strings");
        slot.push_back(item.get<std::string>());
      }
    } else if (key == "role") {
      if (!v.is_string()) return type_error(key, "a string");
      into.options["tag"].push_back("role=" + v.get<std::string>());
    } else if (key == "tags") {
      if (!v.is_object()) return type_error(key, "an object of strings");
      for (const auto& [k, tv] : v.items()) {
        if (!tv.is_string()) return type_error(key, "an object of strings");
        into.options["tag"].push_back(k + "=" + tv.get<std::string>());
      }
    } else if (key == "retry_max_attempts") {
      if (!v.is_number_integer() || v.get<long>() < 0) return type_error(key, "a number >= 0");
      set("retry-max", std::to_string(v.get<long>()));
    } else if (key == "rejoin_after_leave") {
      if (!v.is_boolean()) return type_error(key, "true or false");
      if (v.get<bool>()) {
        set("rejoin", "");
      } else {
        into.options.erase("rejoin");
      }
    } else if (key == "query_size_limit" || key == "query_response_size_limit" ||
               key == "user_event_size_limit") {
      if (!v.is_number_integer() || v.get<long>() <= 0 || v.get<long>() > 65536) {
        return type_error(key, "a number of bytes (1-65536)");
      }
      const auto n = static_cast<std::size_t>(v.get<long>());
      (key == "query_size_limit"            ? into.query_size_limit
       : key == "query_response_size_limit" ? into.query_response_size_limit
                                            : into.user_event_size_limit) = n;
    } else if (key == "reconnect_interval" || key == "reconnect_timeout" ||
               key == "tombstone_timeout" || key == "broadcast_timeout") {
      std::chrono::milliseconds d{};
      if (!v.is_string() || !parse_go_duration(v.get<std::string>(), d) || d.count() <= 0) {
        return type_error(key, "a duration such as \"30s\" or \"24h\"");
      }
      (key == "reconnect_interval"  ? into.reconnect_interval
       : key == "reconnect_timeout" ? into.reconnect_timeout
       : key == "tombstone_timeout" ? into.tombstone_timeout
                                    : into.broadcast_timeout) = d;
    } else if (key == "leave_on_terminate" || key == "skip_leave_on_interrupt" ||
               key == "disable_coordinates") {
      if (!v.is_boolean()) return type_error(key, "true or false");
      (key == "leave_on_terminate"        ? into.leave_on_terminate
       : key == "skip_leave_on_interrupt" ? into.skip_leave_on_interrupt
                                          : into.disable_coordinates) = v.get<bool>();
    } else if (key == "protocol") {
      if (!v.is_number_integer() || v.get<long>() < 2 || v.get<long>() > 5) {
        return type_error(key, "a serf protocol version (2-5)");
      }
      if (v.get<long>() != 5) into.ignored.push_back(key + " (haserf speaks protocol 5)");
    } else if (key == "log_level") {
      if (!v.is_string()) return type_error(key, "a string");
      into.options["log-level"].push_back(v.get<std::string>());
    } else if (key == "log_json") {  // serf 0.10
      if (!v.is_boolean()) return type_error(key, "true or false");
      if (v.get<bool>()) into.options["log-json"].push_back("");
    } else if (key == "replay_on_join" || key == "discover" ||
               key == "interface" || key == "disable_name_resolution" || key == "enable_syslog" ||
               key == "syslog_facility" || key == "enable_compression" || key == "statsite_addr" ||
               key == "statsd_addr" || key == "start_join_wan" || key == "mdns") {
      if (std::find(into.ignored.begin(), into.ignored.end(), key) == into.ignored.end()) {
        into.ignored.push_back(key);
      }
    } else {
      unknown.push_back(key);
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& k : unknown) list += (list.empty() ? "" : ", ") + k;
    error = path + ": Config has invalid keys: " + list;
    return false;
  }
  return true;
}

bool read_agent_config_dir(const std::string& dir, AgentFileConfig& into, std::string& error) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    error = dir + ": cannot read the directory";
    return false;
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (!read_agent_config_file(dir + "/" + n, into, error)) return false;
  }
  return true;
}

}  // namespace haserf::cli
