// Templates are operator input, but a typo must give an error, never a crash.
#include <string_view>

#include "core/render/render.hpp"
#include "core/table/table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static haserf::table::MembershipTable* table = [] {
    auto* t = new haserf::table::MembershipTable();
    haserf::table::Member m;
    m.name = "web1";
    m.addr = "10.0.0.1";
    m.port = 7946;
    m.tags = {{"role", "backend"}, {"port", "80"}};
    t->join(m);
    return t;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)haserf::render::render(text, "fuzz", *table->snapshot(), {{"x", "y"}});
  return 0;
}
