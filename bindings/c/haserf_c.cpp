// SPDX-License-Identifier: MIT
// The C API (bindings/c/haserf.h): a thin adapter over bindings/common/module_state.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>

#include "bindings/c/haserf.h"
#include "bindings/common/module_state.hpp"

using haserf::bindings::ModuleState;

namespace {

void set_error(char* err, size_t errlen, const std::string& message) {
  if (!err || errlen == 0) return;
  std::snprintf(err, errlen, "%s", message.c_str());
}

std::vector<std::string> split(const char* text, char sep) {
  std::vector<std::string> out;
  if (!text) return out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

char* copy_out(const std::string& s) {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

// haserf_set_option()'s values, applied by the next haserf_start().
struct PendingOptions {
  std::mutex mutex;
  std::map<std::string, std::string> values;
};

PendingOptions& pending() {
  static PendingOptions* p = new PendingOptions;  // never destroyed: usable during exit
  return *p;
}

const char* const kOptionNames[] = {"advertise", "encrypt",       "keyring_file",
                                    "allow",     "snapshot_file", "profile"};

}  // namespace

extern "C" {

int haserf_set_option(const char* name, const char* value, char* err, size_t errlen) {
  try {
    const std::string n = name ? name : "";
    if (std::find(std::begin(kOptionNames), std::end(kOptionNames), n) == std::end(kOptionNames)) {
      set_error(err, errlen,
                "haserf_set_option: unknown option '" + n +
                    "' (advertise, encrypt, keyring_file, allow, snapshot_file, profile)");
      return -1;
    }
    auto& p = pending();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (value && *value) {
      p.values[n] = value;
    } else {
      p.values.erase(n);
    }
    return 0;
  } catch (...) {  // nothing may unwind into C
    set_error(err, errlen, "internal error");
    return -1;
  }
}

int haserf_start(const char* bind, const char* join, const char* node, const char* tags, char* err,
                 size_t errlen) {
  try {
    if (!bind || !*bind) {
      set_error(err, errlen, "haserf_start: bind (\"IP:PORT\") is required");
      return -1;
    }
    haserf::bindings::StartOptions options;
    options.bind = bind;
    options.join = split(join, ',');
    if (node) options.node = node;
    for (const auto& kv : split(tags, ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        set_error(err, errlen, "haserf_start: tag '" + kv + "' must look like k=v");
        return -1;
      }
      options.tags[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    {
      auto& p = pending();
      std::lock_guard<std::mutex> lock(p.mutex);
      const auto get = [&](const char* key) {
        const auto it = p.values.find(key);
        return it == p.values.end() ? std::string() : it->second;
      };
      options.advertise = get("advertise");
      options.encrypt = get("encrypt");
      options.keyring_file = get("keyring_file");
      options.allow = split(get("allow").c_str(), ',');
      options.snapshot_file = get("snapshot_file");
      if (!get("profile").empty()) options.profile = get("profile");
    }
    std::string error;
    if (!ModuleState::get().start(options, error)) {
      set_error(err, errlen, error);
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, std::string("internal error: ") + e.what());
    return -1;
  } catch (...) {  // nothing may unwind into C
    set_error(err, errlen, "internal error");
    return -1;
  }
}

int haserf_started(void) {
  try {
    return ModuleState::get().started() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

char* haserf_members_json(void) {
  try {
    return copy_out(ModuleState::get().members_json());
  } catch (...) {
    return nullptr;
  }
}

uint64_t haserf_version(void) {
  try {
    const auto snap = ModuleState::get().snapshot();
    return snap ? snap->version() : 0;
  } catch (...) {
    return 0;
  }
}

char* haserf_render(const char* template_text, char* err, size_t errlen) {
  try {
    if (!template_text) {
      set_error(err, errlen, "haserf_render: template is NULL");
      return nullptr;
    }
    auto result = ModuleState::get().render(template_text, {});
    if (!result.ok()) {
      set_error(err, errlen, result.error);
      return nullptr;
    }
    return copy_out(result.output);
  } catch (const std::exception& e) {
    set_error(err, errlen, std::string("internal error: ") + e.what());
    return nullptr;
  } catch (...) {  // nothing may unwind into C
    set_error(err, errlen, "internal error");
    return nullptr;
  }
}

int haserf_user_event(const char* name, const char* payload, int coalesce, char* err,
                      size_t errlen) {
  try {
    std::string error;
    if (!name ||
        !ModuleState::get().user_event(name, payload ? payload : "", coalesce != 0, error)) {
      set_error(err, errlen, name ? error : "haserf_user_event: name is NULL");
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, std::string("internal error: ") + e.what());
    return -1;
  } catch (...) {  // nothing may unwind into C
    set_error(err, errlen, "internal error");
    return -1;
  }
}

void haserf_leave(void) {
  try {
    ModuleState::get().leave();
  } catch (...) {
  }
}

void haserf_stop(void) {
  try {
    ModuleState::get().stop();
  } catch (...) {
  }
}

void haserf_free(char* p) {
  std::free(p);
}

const char* haserf_library_version(void) {
  return HASERF_VERSION;
}

}  // extern "C"
