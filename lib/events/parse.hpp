// Raw webhook body -> typed events (pure: no I/O, no logging).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/event.hpp"

namespace sgs::events {

// An element of the array that is not a usable event: kept raw with the reason.
struct rejected_element {
  std::string_view raw;  // the element's exact bytes
  std::string reason;    // e.g. "element 3: `email` must be a string"
};

// The body could not be read as a JSON array at all: answer 400, store nothing.
struct batch_error {
  std::string message;  // one sentence for the HTTP response body
};

// A parsed body. Owns the padded copy of the body and the simdjson parser whose buffers the
// events' string views point into; move-only, so views stay valid while it lives.
class parsed_batch {
 public:
  parsed_batch();
  parsed_batch(parsed_batch&&) noexcept;
  parsed_batch& operator=(parsed_batch&&) noexcept;
  ~parsed_batch();

  std::vector<event> events;               // in body order
  std::vector<rejected_element> rejected;  // in body order

  // The body the batch was parsed from, without a leading BOM.
  std::string_view body() const;

 private:
  friend std::variant<parsed_batch, batch_error> parse_owned_batch(std::string body);
  struct buffers;
  std::unique_ptr<buffers> buffers_;
};

// Parses a webhook body: a JSON array of event objects. A UTF-8 BOM is skipped. Returns
// batch_error when the body is not JSON (including invalid UTF-8, truncation, trailing
// bytes, nesting deeper than the parser allows) or not an array. Elements that are not
// objects, lack `event` (or `email`, except account_status_change), or carry wrong types for
// typed fields become rejected_elements; unknown `event` strings become type `other`.
//
// Details of the contract:
// - The whole body is validated before success is returned: a syntax error anywhere, even
//   inside a custom arg, is a batch_error, never a partial batch.
// - Typed fields are read leniently (sendgrid-api.md 8.3): every integer field also from a
//   numeric string ("5"), `timestamp` also from a float (floored), tls / cert_err /
//   sg_machine_open also from true/false, `url_offset` also as a bare integer index. null
//   reads as absent, except for `event`. A duplicate key replaces the earlier one.
// - A typed string that is well-formed JSON but not valid Unicode (an unpaired \ud800)
//   rejects its element; in a custom arg it is kept, raw.
// - Reasons number elements from 0, like JSON array indexes: "element 3: ...".
// - Nesting is limited to the simdjson default of 1024 levels (root array included).
// - Thread-safe: each call owns its parser and buffers; nothing is shared between calls.
std::variant<parsed_batch, batch_error> parse_owned_batch(std::string body);
// The same, for a body the caller keeps: it is copied once.
std::variant<parsed_batch, batch_error> parse_batch(std::string_view body);

}  // namespace sgs::events
