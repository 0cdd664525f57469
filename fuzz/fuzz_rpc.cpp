// SPDX-License-Identifier: MIT
// serf RPC messages as a client or a hostile peer sends them (core/wire/rpc.hpp): every
// decoder the RPC server and client run on received bytes, and the stream scanner in front.
#include <cstdint>
#include <span>

#include "core/wire/msgpack_reader.hpp"
#include "core/wire/rpc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace wr = haserf::wire::rpc;
  const std::span<const std::uint8_t> bytes(data, size);
  std::size_t len = 0;
  (void)haserf::wire::mp::scan_object(bytes, len);
  wr::RequestHeader h;
  (void)wr::decode_request_header(bytes, h, nullptr);
  wr::RequestBody b;
  if (wr::decode_request_body(bytes, b, nullptr)) {
    // What we would send back for it must encode (and decode again).
    (void)wr::decode_request_body(wr::encode_request_body("query", b), b, nullptr);
  }
  std::vector<wr::RpcMember> members;
  (void)wr::decode_members(bytes, members, nullptr);
  std::optional<wr::RpcCoordinate> coord;
  (void)wr::decode_coordinate_response(bytes, coord, nullptr);
  wr::QueryRecord rec;
  (void)wr::decode_query_record(bytes, rec, nullptr);
  std::map<std::string, wr::StringMap> stats;
  (void)wr::decode_stats(bytes, stats, nullptr);
  wr::ResponseHeader rh;
  (void)wr::decode_response_header(bytes, rh, nullptr);
  return 0;
}
