// SPDX-License-Identifier: MIT
#include "core/net/keyring_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace haserf::net {

namespace {

bool fail(std::string* err, const std::string& path, const std::string& why) {
  if (err) *err = "keyring file " + path + ": " + why;
  return false;
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool load_keyring_file(const std::string& path, wire::Keyring& out, std::string* err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(err, path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) return fail(err, path, "larger than 1 MiB");
  const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    return fail(err, path, "not a JSON array of base64 keys");
  }
  if (doc.empty()) return fail(err, path, "contains no keys");
  wire::Keyring ring;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = "key " + std::to_string(i + 1);
    if (!doc[i].is_string()) return fail(err, path, where + ": not a string");
    wire::Bytes key;
    std::string why;
    if (!wire::parse_key_base64(doc[i].get<std::string>(), key, &why)) {
      return fail(err, path, where + ": " + why);
    }
    ring.add(key);  // a repeated key is kept once, as memberlist's NewKeyring does
  }
  out = std::move(ring);
  return true;
}

bool save_keyring_file(const std::string& path, const wire::Keyring& keyring, std::string* err) {
  std::string text = "[";
  for (std::size_t i = 0; i < keyring.keys.size(); ++i) {
    text += i == 0 ? "\n  \"" : ",\n  \"";
    text += wire::key_to_base64(keyring.keys[i]);
    text += "\"";
  }
  text += keyring.keys.empty() ? "]" : "\n]";
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(err, path, std::string("cannot create ") + tmp + ": " + std::strerror(errno));
  bool written = write_all(fd, text) && ::fsync(fd) == 0;
  int saved = written ? 0 : errno;
  if (::close(fd) != 0 && written) {
    written = false;
    saved = errno;
  }
  if (!written) {
    ::unlink(tmp.c_str());
    return fail(err, path, std::string("cannot write ") + tmp + ": " + std::strerror(saved));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail(err, path, std::string("cannot replace it: ") + std::strerror(e));
  }
  // The rename itself must survive a crash: a removed key must not come back.
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool initial_keyring(const std::string& configured_key_base64, const std::string& keyring_file,
                     wire::Keyring& out, bool* from_file, std::string* err, std::string* notice) {
  wire::Keyring ring;
  bool loaded = false;
  if (!keyring_file.empty()) {
    struct stat st {};
    if (::stat(keyring_file.c_str(), &st) == 0) {
      if (!load_keyring_file(keyring_file, ring, err)) return false;
      loaded = true;
    } else if (errno != ENOENT) {
      return fail(err, keyring_file, std::strerror(errno));
    } else if (configured_key_base64.empty()) {
      return fail(err, keyring_file,
                  "does not exist, and no encryption key was given to start it with");
    }
  }
  if (!configured_key_base64.empty()) {
    wire::Bytes key;
    std::string why;
    if (!wire::parse_key_base64(configured_key_base64, key, &why)) {
      if (err) *err = "encryption key: " + why;
      return false;
    }
    if (!loaded) {
      ring.add(key);
    } else if (!ring.contains(key) && notice != nullptr) {
      *notice = "keyring file " + keyring_file + " does not hold the configured key; using its " +
                std::to_string(ring.keys.size()) + " key(s), primary first";
    }
  }
  if (from_file) *from_file = loaded;
  out = std::move(ring);
  return true;
}

}  // namespace haserf::net
