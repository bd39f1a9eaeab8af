// A minimal application linked against an installed oap: stores two events and reads them back.

#include <cstdio>
#include <oap/oap.hpp>

int main() {
  auto store = oap::open_store("memory://");
  oap::Event e;
  e.user = "consumer";
  e.timestamp = *oap::parse_rfc3339("2024-05-01T00:00:00Z");
  e.features = {1.0f, 2.0f};
  store->append(e);
  e.features = {3.0f, 4.0f};
  store->append(e);
  auto recent = store->recent("consumer", 10);
  if (recent.size() != 2 || recent[1].features[1] != 4.0f) {
    std::fprintf(stderr, "unexpected store contents\n");
    return 1;
  }
  try {
    oap::validate_user_id("");
    return 1;
  } catch (const oap::InvalidArgument&) {
  }
  std::printf("consumer ok: %zu events\n", recent.size());
  return 0;
}
