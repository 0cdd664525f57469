// SPDX-License-Identifier: MIT
#include <arpa/inet.h>

#include <charconv>

#include "core/swim/delegate.hpp"

namespace haserf::swim {

std::string ip_to_string(const wire::Bytes& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ip.size() == 4) {
    if (!inet_ntop(AF_INET, ip.data(), buf, sizeof buf)) return "";
    return buf;
  }
  if (ip.size() == 16) {
    // IPv4-mapped (::ffff:a.b.c.d), as Go nodes bound to 0.0.0.0 send: show as IPv4.
    static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(prefix, prefix + 12, ip.begin())) {
      if (!inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf)) return "";
      return buf;
    }
    if (!inet_ntop(AF_INET6, ip.data(), buf, sizeof buf)) return "";
    return buf;
  }
  return "";
}

std::string to_string(const Address& a) {
  const std::string ip = ip_to_string(a.ip);
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(a.port);
  return (ip.empty() ? "?" : ip) + ":" + std::to_string(a.port);
}

bool parse_address(const std::string& host_port, std::uint16_t default_port, Address& out,
                   std::string* err) {
  std::string host = host_port;
  std::string port_text;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string::npos) {
      if (err) *err = "missing ']' in \"" + host_port + "\"";
      return false;
    }
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') {
        if (err) *err = "expected ':' after ']' in \"" + host_port + "\"";
        return false;
      }
      port_text = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    const auto colon = host.find(':');
    port_text = host.substr(colon + 1);
    host.resize(colon);
  }
  std::uint16_t port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || p != port_text.data() + port_text.size() ||
        value > 65535) {
      if (err) *err = "invalid port in \"" + host_port + "\"";
      return false;
    }
    port = static_cast<std::uint16_t>(value);
  }
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    out.ip.assign(buf, buf + 4);
  } else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    out.ip.assign(buf, buf + 16);
  } else {
    if (err) *err = "\"" + host + "\" is not an IP address (host names are not resolved)";
    return false;
  }
  out.port = port;
  return true;
}

}  // namespace haserf::swim
