// SPDX-License-Identifier: MIT
// core/net keyring file: serf's JSON format, the keys a member starts with, atomic rewrites.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "core/net/keyring_file.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace haserf;

namespace {

const std::string kA = "cg8StVXbQJ0gPvMd9o7yrg==";                      // 16 bytes
const std::string kB = "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=";  // 32 bytes

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

wire::Bytes key(const std::string& b64) {
  wire::Bytes k;
  REQUIRE(wire::parse_key_base64(b64, k));
  return k;
}

}  // namespace

TEST_CASE("keyring file: serf's JSON array is read in order, primary first", "[net][keyring]") {
  TempDir dir;
  const std::string path = dir.path + "/keyring";
  write(path, "[\n  \"" + kB + "\",\n  \"" + kA + "\"\n]");
  wire::Keyring ring;
  std::string err;
  REQUIRE(net::load_keyring_file(path, ring, &err));
  CHECK(ring.keys == std::vector<wire::Bytes>{key(kB), key(kA)});
}

TEST_CASE("keyring file: errors name the file and the key", "[net][keyring]") {
  TempDir dir;
  const std::string path = dir.path + "/keyring";
  wire::Keyring ring;
  std::string err;
  CHECK_FALSE(net::load_keyring_file(dir.path + "/none", ring, &err));
  CHECK(err == "keyring file " + dir.path + "/none: No such file or directory");
  write(path, "[]");
  CHECK_FALSE(net::load_keyring_file(path, ring, &err));
  CHECK(err == "keyring file " + path + ": contains no keys");
  write(path, "{\"k\": 1}");
  CHECK_FALSE(net::load_keyring_file(path, ring, &err));
  CHECK(err == "keyring file " + path + ": not a JSON array of base64 keys");
  write(path, "[\"" + kA + "\", \"bm9wZQ==\"]");
  CHECK_FALSE(net::load_keyring_file(path, ring, &err));
  CHECK(err.starts_with("keyring file " + path + ": key 2: "));
  write(path, "[\"" + kA + "\", 7]");
  CHECK_FALSE(net::load_keyring_file(path, ring, &err));
  CHECK(err == "keyring file " + path + ": key 2: not a string");
  CHECK(ring.keys.empty());  // untouched by failures
}

TEST_CASE("keyring file: written as serf writes it, mode 0600, and read back", "[net][keyring]") {
  TempDir dir;
  const std::string path = dir.path + "/keyring";
  wire::Keyring ring;
  ring.add(key(kA));
  ring.add(key(kB));
  std::string err;
  REQUIRE(net::save_keyring_file(path, ring, &err));
  CHECK(read(path) == "[\n  \"" + kA + "\",\n  \"" + kB + "\"\n]");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  wire::Keyring back;
  REQUIRE(net::load_keyring_file(path, back, &err));
  CHECK(back.keys == ring.keys);
  // A folder that cannot be written: the error says so and the old file stays.
  CHECK_FALSE(net::save_keyring_file(dir.path + "/missing/keyring", ring, &err));
  CHECK(err.find("cannot create") != std::string::npos);
}

TEST_CASE("keyring file: the file's keys win over the configured key", "[net][keyring]") {
  TempDir dir;
  const std::string path = dir.path + "/keyring";
  wire::Keyring ring;
  bool from_file = true;
  std::string err;
  // No file yet: the configured key alone.
  REQUIRE(net::initial_keyring(kA, path, ring, &from_file, &err));
  CHECK_FALSE(from_file);
  CHECK(ring.keys == std::vector<wire::Bytes>{key(kA)});
  // A file rotated to kB while kA was configured: the file wins, and a notice says so.
  write(path, "[\"" + kB + "\"]");
  std::string notice;
  REQUIRE(net::initial_keyring(kA, path, ring, &from_file, &err, &notice));
  CHECK(from_file);
  CHECK(ring.keys == std::vector<wire::Bytes>{key(kB)});
  CHECK(notice == "keyring file " + path +
                      " does not hold the configured key; using its 1 key(s), primary first");
  notice.clear();
  write(path, "[\"" + kB + "\", \"" + kA + "\"]");
  REQUIRE(net::initial_keyring(kA, path, ring, &from_file, &err, &notice));
  CHECK(ring.keys == std::vector<wire::Bytes>{key(kB), key(kA)});
  CHECK(notice.empty());
  // Neither a file nor a key: nothing to start with.
  CHECK_FALSE(net::initial_keyring("", dir.path + "/none", ring, nullptr, &err));
  CHECK(err.find("does not exist, and no encryption key was given") != std::string::npos);
  // No file option: plain --encrypt, or no encryption at all.
  REQUIRE(net::initial_keyring("", "", ring, nullptr, &err));
  CHECK_FALSE(ring.enabled());
  CHECK_FALSE(net::initial_keyring("short", "", ring, nullptr, &err));
  CHECK(err.starts_with("encryption key: "));
}
