// Event type names (wire and table) and the 128-bit dedup keys computed from typed fields.
#include "events/event.hpp"

#include <cstring>

#define XXH_STATIC_LINKING_ONLY  // for XXH3_state_t on the stack instead of malloc'ed states
#include <xxhash.h>

namespace sgs::events {
namespace {

struct type_names {
  std::string_view wire;
  std::string_view table;
};

// Indexed by event_type; the static_assert below keeps it in step with the enum.
constexpr std::array<type_names, event_type_count> names = {{
    {"processed", "processed"},
    {"dropped", "dropped"},
    {"delivered", "delivered"},
    {"deferred", "deferred"},
    {"bounce", "bounce"},
    {"open", "_open"},
    {"click", "click"},
    {"spamreport", "spam_report"},
    {"unsubscribe", "unsubscribe"},
    {"group_unsubscribe", "group_unsubscribe"},
    {"group_resubscribe", "group_resubscribe"},
    {"account_status_change", "account_status_change"},
    {"", "other_events"},
}};
static_assert(static_cast<std::size_t>(event_type::other) + 1 == event_type_count);

// Feeds XXH3-128 with an unambiguous encoding of values. Small inputs (every realistic event)
// are gathered in a stack buffer and hashed in one shot; only an oversized field switches to
// the streaming state, which XXH3 guarantees gives the same digest for the same bytes.
class key_hasher {
 public:
  key_hasher() = default;
  key_hasher(const key_hasher&) = delete;
  key_hasher& operator=(const key_hasher&) = delete;

  void bytes(const void* data, std::size_t size) {
    if (used_ + size <= buffer_.size()) {
      std::memcpy(buffer_.data() + used_, data, size);
      used_ += size;
      return;
    }
    if (!streaming_) {
      XXH3_INITSTATE(&state_);
      XXH3_128bits_reset(&state_);
      streaming_ = true;
    }
    XXH3_128bits_update(&state_, buffer_.data(), used_);
    used_ = 0;
    XXH3_128bits_update(&state_, data, size);
  }

  // Little-endian regardless of the host, so keys rebuilt on another machine match.
  void u64(std::uint64_t v) {
    std::array<unsigned char, 8> le;
    for (std::size_t i = 0; i < le.size(); ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(le.data(), le.size());
  }

  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void text(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }

  // A presence byte first, so an absent field differs from "" and from 0.
  void field(const std::optional<std::string_view>& v) {
    presence(v.has_value());
    if (v) text(*v);
  }
  void field(const std::optional<std::int64_t>& v) {
    presence(v.has_value());
    if (v) u64(static_cast<std::uint64_t>(*v));
  }

  dedup_key digest() {
    XXH128_hash_t h;
    if (streaming_) {
      XXH3_128bits_update(&state_, buffer_.data(), used_);
      h = XXH3_128bits_digest(&state_);
    } else {
      h = XXH3_128bits(buffer_.data(), used_);
    }
    return {h.high64, h.low64};
  }

 private:
  void presence(bool present) {
    const unsigned char b = present ? 1 : 0;
    bytes(&b, 1);
  }

  std::array<unsigned char, 512> buffer_;
  std::size_t used_ = 0;
  bool streaming_ = false;
  XXH3_state_t state_;
};

}  // namespace

std::string_view wire_name(event_type type) { return names[static_cast<std::size_t>(type)].wire; }

std::string_view table_name(event_type type) { return names[static_cast<std::size_t>(type)].table; }

event_type event_type_from_wire(std::string_view name) {
  // Twelve candidates: a linear scan of length-then-bytes comparisons beats building a map.
  if (name.empty()) return event_type::other;
  for (std::size_t i = 0; i + 1 < event_type_count; ++i) {
    if (names[i].wire == name) return static_cast<event_type>(i);
  }
  return event_type::other;
}

std::optional<dedup_key> event_id_key(const event& e) {
  if (!e.sg_event_id) return std::nullopt;
  key_hasher h;
  // Domain tags keep an id key from ever equalling a fingerprint key of the same bytes.
  h.bytes("id\0", 3);
  h.bytes(e.sg_event_id->data(), e.sg_event_id->size());
  return h.digest();
}

dedup_key fingerprint_key(const event& e) {
  key_hasher h;
  h.bytes("fp\0", 3);
  h.text(e.kind == event_type::other ? e.event_name : wire_name(e.kind));
  // Only typed fields, never raw or custom_args: the store recomputes this from its columns.
  // The order is part of the key format; changing it invalidates stored dedup windows.
  h.field(e.sg_message_id);
  h.field(e.email);
  h.field(e.timestamp);
  h.field(e.url);
  h.field(e.url_offset_index);
  h.field(e.asm_group_id);
  h.field(e.reason);
  h.field(e.status);
  h.field(e.response);
  h.field(e.attempt);
  h.field(e.type);
  h.field(e.ip);
  h.field(e.useragent);
  return h.digest();
}

}  // namespace sgs::events
