// SPDX-License-Identifier: MIT
// Serf's keyring file (`serf agent -keyring-file`): a JSON array of base64 keys, primary
// first. Read at start; rewritten after every change a key query makes, so a restarted member
// comes back with the keys the cluster uses now, not the ones it was first configured with.
#pragma once

#include <string>

#include "core/wire/crypto.hpp"

namespace haserf::net {

// Reads `path` into `out` (replacing its keys). Errors name the file and what is wrong
// ("keyring file /x: key 2: invalid base64 in key"). An empty array is an error, as in serf.
bool load_keyring_file(const std::string& path, wire::Keyring& out, std::string* err);

// Writes the keys as serf does (indented JSON array), mode 0600, atomically: a temporary file
// in the same folder, fsync, rename. The previous file stays intact on any error.
bool save_keyring_file(const std::string& path, const wire::Keyring& keyring, std::string* err);

// The keys a member starts with: the file's when it exists (key queries may have rotated them
// since the configuration was written: the file wins, and `notice` says so when the
// configured key is not among them); otherwise the configured key alone, which then starts
// the file. `from_file` tells whether the file existed.
bool initial_keyring(const std::string& configured_key_base64, const std::string& keyring_file,
                     wire::Keyring& out, bool* from_file, std::string* err,
                     std::string* notice = nullptr);

}  // namespace haserf::net
