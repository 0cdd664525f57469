// SPDX-License-Identifier: MIT
#include "core/wire/msgpack_reader.hpp"

#include <bit>
#include <cstdio>

namespace haserf::wire::mp {
namespace {

std::string hex(std::uint8_t b) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02x", b);
  return buf;
}

// Element count and header size of a container type byte; false if `b` is not a container.
struct Container {
  bool is_map = false;
  std::size_t header = 0;  // bytes of the header including the type byte
  std::size_t count_width = 0;
  std::uint32_t fix_count = 0;
};

bool container_of(std::uint8_t b, Container& c) {
  if (b >= 0x80 && b <= 0x8f) {
    c = {true, 1, 0, static_cast<std::uint32_t>(b & 0x0f)};
  } else if (b >= 0x90 && b <= 0x9f) {
    c = {false, 1, 0, static_cast<std::uint32_t>(b & 0x0f)};
  } else if (b == 0xdc || b == 0xdd) {
    c = {false, b == 0xdc ? 3u : 5u, b == 0xdc ? 2u : 4u, 0};
  } else if (b == 0xde || b == 0xdf) {
    c = {true, b == 0xde ? 3u : 5u, b == 0xde ? 2u : 4u, 0};
  } else {
    return false;
  }
  return true;
}

// Fixed payload size of scalar types and size-prefix width of str/bin/ext. Returns false for
// containers and the never-used byte c1.
bool scalar_of(std::uint8_t b, std::size_t& fixed, std::size_t& len_width, std::size_t& extra) {
  fixed = 0;
  len_width = 0;
  extra = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return true;
  if (b >= 0xa0 && b <= 0xbf) {
    fixed = b & 0x1f;
    return true;
  }
  switch (b) {
    case 0xcc:
    case 0xd0:
      fixed = 1;
      return true;
    case 0xcd:
    case 0xd1:
      fixed = 2;
      return true;
    case 0xce:
    case 0xd2:
    case 0xca:
      fixed = 4;
      return true;
    case 0xcf:
    case 0xd3:
    case 0xcb:
      fixed = 8;
      return true;
    case 0xd4:
      fixed = 2;
      return true;  // fixext1: type + 1
    case 0xd5:
      fixed = 3;
      return true;
    case 0xd6:
      fixed = 5;
      return true;
    case 0xd7:
      fixed = 9;
      return true;
    case 0xd8:
      fixed = 17;
      return true;
    case 0xc4:
    case 0xd9:
      len_width = 1;
      return true;
    case 0xc5:
    case 0xda:
      len_width = 2;
      return true;
    case 0xc6:
    case 0xdb:
      len_width = 4;
      return true;
    case 0xc7:
      len_width = 1;
      extra = 1;
      return true;  // ext: length, type, data
    case 0xc8:
      len_width = 2;
      extra = 1;
      return true;
    case 0xc9:
      len_width = 4;
      extra = 1;
      return true;
    default:
      return false;
  }
}

std::uint64_t load_be(const std::uint8_t* p, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string describe(std::uint8_t b) {
  const char* name = "unknown";
  if (b <= 0x7f)
    name = "positive fixint";
  else if (b <= 0x8f)
    name = "fixmap";
  else if (b <= 0x9f)
    name = "fixarray";
  else if (b <= 0xbf)
    name = "fixstr";
  else if (b >= 0xe0)
    name = "negative fixint";
  else {
    switch (b) {
      case 0xc0:
        name = "nil";
        break;
      case 0xc2:
      case 0xc3:
        name = "bool";
        break;
      case 0xc4:
        name = "bin8";
        break;
      case 0xc5:
        name = "bin16";
        break;
      case 0xc6:
        name = "bin32";
        break;
      case 0xca:
      case 0xcb:
        name = "float";
        break;
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
        name = "uint";
        break;
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
        name = "int";
        break;
      case 0xd9:
        name = "str8";
        break;
      case 0xda:
        name = "str16";
        break;
      case 0xdb:
        name = "str32";
        break;
      case 0xdc:
      case 0xdd:
        name = "array";
        break;
      case 0xde:
      case 0xdf:
        name = "map";
        break;
      default:
        if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) name = "ext";
        break;
    }
  }
  return std::string(name) + " (" + hex(b) + ")";
}

Scan scan_object(std::span<const std::uint8_t> data, std::size_t& len, int max_depth) {
  // Iterative walk: `pending` counts values still to read at the current position.
  std::size_t pos = 0;
  std::uint64_t pending = 1;
  // Remaining element counts of the open containers, innermost last.
  std::uint64_t stack[64];
  int depth = 0;
  if (max_depth > 64) max_depth = 64;
  while (true) {
    while (pending == 0) {
      if (depth == 0) {
        len = pos;
        return Scan::kComplete;
      }
      pending = stack[--depth];
    }
    if (pos >= data.size()) return Scan::kIncomplete;
    const std::uint8_t b = data[pos];
    --pending;
    Container c;
    if (container_of(b, c)) {
      if (data.size() - pos < c.header) return Scan::kIncomplete;
      std::uint64_t n = c.count_width ? load_be(&data[pos + 1], c.count_width) : c.fix_count;
      if (c.is_map) n *= 2;
      pos += c.header;
      if (n == 0) continue;
      if (depth >= max_depth) return Scan::kError;
      stack[depth++] = pending;
      pending = n;
      continue;
    }
    std::size_t fixed, len_width, extra;
    if (!scalar_of(b, fixed, len_width, extra)) return Scan::kError;
    std::uint64_t body = fixed;
    if (len_width) {
      if (data.size() - pos < 1 + len_width) return Scan::kIncomplete;
      body = load_be(&data[pos + 1], len_width) + extra;
    }
    const std::uint64_t total = 1 + len_width + body;
    if (data.size() - pos < total) return Scan::kIncomplete;
    pos += static_cast<std::size_t>(total);
  }
}

bool Reader::fail(std::string msg) {
  if (error_.empty()) error_ = std::move(msg);
  return false;
}

bool Reader::need(std::size_t n) {
  if (remaining() < n) return fail("truncated msgpack data");
  return true;
}

bool Reader::read_be(std::size_t width, std::uint64_t& out) {
  if (!need(width)) return false;
  out = load_be(&data_[pos_], width);
  pos_ += width;
  return true;
}

bool Reader::take_nil() {
  if (pos_ < data_.size() && data_[pos_] == 0xc0) {
    ++pos_;
    return true;
  }
  return false;
}

// Length of a str (and, when allowed, bin) value whose type byte `b` was consumed.
bool Reader::read_raw_len(std::uint8_t b, bool allow_bin, std::uint32_t& len, bool& ok_type) {
  ok_type = true;
  std::uint64_t v = 0;
  if (b >= 0xa0 && b <= 0xbf) {
    len = b & 0x1f;
  } else if (b == 0xd9 || (allow_bin && b == 0xc4)) {
    if (!read_be(1, v)) return false;
    len = static_cast<std::uint32_t>(v);
  } else if (b == 0xda || (allow_bin && b == 0xc5)) {
    if (!read_be(2, v)) return false;
    len = static_cast<std::uint32_t>(v);
  } else if (b == 0xdb || (allow_bin && b == 0xc6)) {
    if (!read_be(4, v)) return false;
    len = static_cast<std::uint32_t>(v);
  } else {
    ok_type = false;
    return false;
  }
  return need(len);
}

bool Reader::read_str(std::string& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_++];
  if (b == 0xc0) {
    out.clear();
    return true;
  }
  std::uint32_t len = 0;
  bool ok_type = false;
  if (!read_raw_len(b, false, len, ok_type)) {
    if (!ok_type) return fail(std::string(field) + ": expected string, got " + describe(b));
    return false;
  }
  out.assign(reinterpret_cast<const char*>(&data_[pos_]), len);
  pos_ += len;
  return true;
}

bool Reader::read_key(std::string_view& out) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_++];
  std::uint32_t len = 0;
  bool ok_type = false;
  if (!read_raw_len(b, false, len, ok_type)) {
    if (!ok_type) return fail("map key: expected string, got " + describe(b));
    return false;
  }
  out = std::string_view(reinterpret_cast<const char*>(&data_[pos_]), len);
  pos_ += len;
  return true;
}

bool Reader::read_bytes(Bytes& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  if (b == 0xc0) {
    ++pos_;
    out.clear();
    return true;
  }
  Container c;
  if (container_of(b, c) && !c.is_map) {
    // Go also accepts []byte as an array of small integers (§1.2).
    std::uint32_t n = 0;
    if (!read_array_header(n, field)) return false;
    out.clear();
    out.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint8_t v = 0;
      if (!read_uint(v, field)) return false;
      out.push_back(v);
    }
    return true;
  }
  ++pos_;
  std::uint32_t len = 0;
  bool ok_type = false;
  if (!read_raw_len(b, true, len, ok_type)) {
    if (!ok_type) return fail(std::string(field) + ": expected bytes, got " + describe(b));
    return false;
  }
  out.assign(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
             data_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
  pos_ += len;
  return true;
}

bool Reader::read_opt_bytes(std::optional<Bytes>& out, std::string_view field) {
  if (take_nil()) {
    out.reset();
    return true;
  }
  Bytes v;
  if (!read_bytes(v, field)) return false;
  out = std::move(v);
  return true;
}

bool Reader::read_bool(bool& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  // Go 0.5.5 also takes fixint 0/1 for a bool (§1.2).
  if (b == 0xc2 || b == 0x00) {
    out = false;
  } else if (b == 0xc3 || b == 0x01) {
    out = true;
  } else {
    return fail(std::string(field) + ": expected bool, got " + describe(b));
  }
  ++pos_;
  return true;
}

bool Reader::read_i64(std::int64_t& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_++];
  std::uint64_t v = 0;
  if (b <= 0x7f) {
    out = b;
    return true;
  }
  if (b >= 0xe0) {
    out = static_cast<std::int8_t>(b);
    return true;
  }
  switch (b) {
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
      if (!read_be(std::size_t{1} << (b - 0xcc), v)) return false;
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(std::string(field) + ": value overflows int64");
      }
      out = static_cast<std::int64_t>(v);
      return true;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      const std::size_t width = std::size_t{1} << (b - 0xd0);
      if (!read_be(width, v)) return false;
      // Sign-extend from `width` bytes.
      const unsigned shift = static_cast<unsigned>(64 - 8 * width);
      out = static_cast<std::int64_t>(v << shift) >> shift;
      return true;
    }
    default:
      --pos_;
      return fail(std::string(field) + ": expected integer, got " + describe(b));
  }
}

bool Reader::read_u64(std::uint64_t& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  if (b >= 0xcc && b <= 0xcf) {
    ++pos_;
    return read_be(std::size_t{1} << (b - 0xcc), out);
  }
  std::int64_t v = 0;
  if (!read_i64(v, field)) return false;
  if (v < 0) return fail(std::string(field) + ": negative value for an unsigned field");
  out = static_cast<std::uint64_t>(v);
  return true;
}

bool Reader::read_f64(double& out, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  std::uint64_t bits = 0;
  switch (b) {
    case 0xc0:
      ++pos_;
      out = 0.0;
      return true;
    case 0xca:
      ++pos_;
      if (!read_be(4, bits)) return false;
      out = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
      return true;
    case 0xcb:
      ++pos_;
      if (!read_be(8, bits)) return false;
      out = std::bit_cast<double>(bits);
      return true;
    case 0xcf:
      // Go converts integers to a float through int64: a uint64 above 2^63 comes out negative.
      ++pos_;
      if (!read_be(8, bits)) return false;
      out = static_cast<double>(static_cast<std::int64_t>(bits));
      return true;
    default:
      break;
  }
  const bool integer = b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3);
  if (!integer) return fail(std::string(field) + ": expected float, got " + describe(b));
  std::int64_t v = 0;
  if (!read_i64(v, field)) return false;
  out = static_cast<double>(v);
  return true;
}

// Map or array header (nil reads as empty). Each entry needs at least one byte per element
// (two for a map), so a declared count larger than the remaining data is refused up front.
bool Reader::read_container_header(bool want_map, std::uint32_t& n, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  if (b == 0xc0) {
    ++pos_;
    n = 0;
    return true;
  }
  const char* kind = want_map ? "map" : "array";
  Container c;
  if (!container_of(b, c) || c.is_map != want_map) {
    return fail(std::string(field) + ": expected " + kind + ", got " + describe(b));
  }
  ++pos_;
  std::uint64_t v = c.fix_count;
  if (c.count_width && !read_be(c.count_width, v)) return false;
  if (v * (want_map ? 2 : 1) > remaining()) {
    return fail(std::string(field) + ": " + kind + " longer than the data");
  }
  n = static_cast<std::uint32_t>(v);
  return true;
}

bool Reader::read_map_header(std::uint32_t& n, std::string_view field) {
  return read_container_header(true, n, field);
}

bool Reader::read_array_header(std::uint32_t& n, std::string_view field) {
  return read_container_header(false, n, field);
}

bool Reader::read_struct_header(bool& is_array, std::uint32_t& n, std::string_view field) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  Container c;
  if (b != 0xc0 && !container_of(b, c)) {
    return fail(std::string(field) + ": expected a map or array for a struct, got " + describe(b));
  }
  is_array = b != 0xc0 && !c.is_map;
  return is_array ? read_array_header(n, field) : read_map_header(n, field);
}

bool Reader::skip() {
  return skip_depth(0);
}

bool Reader::skip_depth(int depth) {
  if (!need(1)) return false;
  const std::uint8_t b = data_[pos_];
  Container c;
  if (container_of(b, c)) {
    if (depth >= max_depth_) return fail("msgpack nesting too deep");
    std::uint32_t n = 0;
    if (c.is_map ? !read_map_header(n, "value") : !read_array_header(n, "value")) return false;
    const std::uint64_t items = c.is_map ? std::uint64_t{n} * 2 : n;
    for (std::uint64_t i = 0; i < items; ++i) {
      if (!skip_depth(depth + 1)) return false;
    }
    return true;
  }
  std::size_t fixed, len_width, extra;
  if (!scalar_of(b, fixed, len_width, extra)) return fail("invalid msgpack byte " + describe(b));
  ++pos_;
  std::uint64_t body = fixed;
  if (len_width) {
    std::uint64_t v = 0;
    if (!read_be(len_width, v)) return false;
    body = v + extra;
  }
  if (!need(static_cast<std::size_t>(body))) return false;
  pos_ += static_cast<std::size_t>(body);
  return true;
}

}  // namespace haserf::wire::mp
