// libFuzzer target: any bytes as a webhook body through the event parser (both entry points)
// and the dedup keys of what it accepts.
//
// Besides the sanitizers' checks, the two entry points must agree: the same bytes give the
// same verdict and the same counts whether the body is borrowed or owned.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "events/event.hpp"
#include "events/parse.hpp"

namespace {

// Reads every byte a view points at, so a dangling view is caught by ASan.
std::size_t touch(std::string_view text) {
  std::size_t sum = 0;
  for (const char c : text) sum += static_cast<unsigned char>(c);
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto borrowed = sgs::events::parse_batch(body);
  auto owned = sgs::events::parse_owned_batch(std::string(body));
  if (borrowed.index() != owned.index()) std::abort();
  auto* a = std::get_if<sgs::events::parsed_batch>(&borrowed);
  if (a == nullptr) return 0;
  const auto& b = std::get<sgs::events::parsed_batch>(owned);
  if (a->events.size() != b.events.size() || a->rejected.size() != b.rejected.size()) std::abort();
  volatile std::size_t sink = 0;
  for (const auto& e : b.events) {
    sink = sink + touch(e.raw) + touch(e.event_name) + touch(e.email.value_or(""));
    (void)sgs::events::event_id_key(e);
    (void)sgs::events::fingerprint_key(e);
  }
  for (const auto& r : b.rejected) sink = sink + touch(r.raw) + touch(r.reason);
  return 0;
}
