// SPDX-License-Identifier: MIT
// Partials are operator input too, and the loader rewrites them: every {{> NAME}} becomes
// NAME@DEPTH in the copy mstch renders, so that recursion ends at kMaxPartialDepth. The input
// is a flags byte (as fuzz_template's: --strict, --escape html, lenient partials, JSON data),
// the template, then up to three partials a, b and c, each after a 0xFF byte; they are written
// to a private folder as a.mustache, b.mustache and c.mustache. Loading and rendering must
// give an error or an output, never a crash, and every text the loader gives mstch must
// split into the tags the check read in its source, partial tags renamed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/render/render.hpp"
#include "fuzz/mstch_tags.hpp"

namespace {

namespace fs = std::filesystem;
using haserf::render::LoadedTemplate;

constexpr const char* kPartialNames[] = {"a", "b", "c"};

// The folder the partials are written to: one per process (libFuzzer's -fork runs several)
// in $TMPDIR (scripts/fuzz.sh points it into build-fuzz/ and removes what a crash leaves),
// removed at exit. A plain array: it must outlive the exit handler that removes the folder.
const char* partial_dir() {
  static char path[4096];
  static const bool made = [] {
    const char* base = std::getenv("TMPDIR");
    std::snprintf(path, sizeof path, "%s/haserf-fuzz-partials-XXXXXX",
                  base && *base ? base : "/tmp");
    if (!::mkdtemp(path)) std::abort();
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    });
    return true;
  }();
  (void)made;
  return path;
}

void write_partial(const std::string& name, std::string_view text, bool present) {
  const std::string path = std::string(partial_dir()) + "/" + name + ".mustache";
  if (!present) {
    ::unlink(path.c_str());
    return;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(text.data(), text.size());
}

// The loader's renames: NAME@DEPTH, NAME@missing, or the depth trap; the source name itself
// only when no partial was found (then mstch gets the template as written).
bool renamed(const LoadedTemplate& t, const std::string& name, const std::string& engine_name) {
  if (t.partials().empty()) return engine_name == name;
  return engine_name == "haserf@depth" || engine_name.rfind(name + "@", 0) == 0;
}

void engine_texts_keep_tags(const LoadedTemplate& t) {
  const auto ok = [&t](const std::string& name, const std::string& engine_name) {
    return renamed(t, name, engine_name);
  };
  haserf::fuzz::expect_mstch_tags(t.engine_text(), t.main().tags, ok);
  for (const auto& [key, text] : t.engine_partials()) {
    if (key == "haserf@depth") continue;
    const auto& source = t.partials().at(key.substr(0, key.rfind('@')));
    haserf::fuzz::expect_mstch_tags(text, source.tags, ok);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Nested lists, so that recursive partials have something to recurse on.
  static const auto json = std::make_shared<nlohmann::json>(nlohmann::json::parse(
      R"({"kids":[{"name":"x","kids":[{"name":"y","kids":[]}]}],"a":{"b":[1,"x",null,true]}})"));
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view parts[4];
  std::size_t count = 0;
  while (count < 3) {
    const auto cut = rest.find('\xff');
    if (cut == std::string_view::npos) break;
    parts[count++] = rest.substr(0, cut);
    rest.remove_prefix(cut + 1);
  }
  parts[count++] = rest;
  for (std::size_t i = 0; i < 3; ++i) write_partial(kPartialNames[i], parts[i + 1], i + 1 < count);

  haserf::render::TemplateOptions topts;
  topts.search_template_dir = false;
  topts.partial_dirs = {partial_dir()};
  topts.missing_partial_is_error = (flags & 4) == 0;
  auto loaded = haserf::render::load_template(std::string(parts[0]), "fuzz", topts);
  if (!loaded.ok()) return 0;
  engine_texts_keep_tags(*loaded.tmpl);
  haserf::fuzz::render_with_flags(*loaded.tmpl, flags, json);
  return 0;
}
