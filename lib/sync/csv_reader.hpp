// Streaming CSV parser (RFC 4180 plus what real exports do): bytes in, records out, memory
// bounded by the longest record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sgs::sync {

// Feed it the file in chunks of any size; each complete record is handed to the callback as
// field views that stay valid until the callback returns. Quoted fields may hold commas,
// doubled quotes ("") and line breaks; records end with LF or CRLF (or a lone CR); blank
// lines are skipped; the last record need not end with a line break.
class csv_reader {
 public:
  using record_fn = std::function<bool(std::span<const std::string_view>)>;  // false = stop

  explicit csv_reader(std::size_t max_record_bytes = 1024 * 1024)
      : max_record_bytes_(max_record_bytes) {}

  // False when a record is too long (error() says so) or the callback asked to stop.
  bool feed(std::string_view bytes, const record_fn& on_record);
  // Ends the input: emits a last unterminated record. False when the input ends inside a
  // quoted field (a truncated file) or the callback asked to stop.
  bool finish(const record_fn& on_record);

  const std::string& error() const { return error_; }
  std::int64_t records() const { return records_; }

 private:
  enum class state : std::uint8_t { field_start, unquoted, quoted, quote_in_quoted };
  bool end_field();
  bool end_record(const record_fn& on_record);

  std::size_t max_record_bytes_;
  state state_ = state::field_start;
  bool skip_lf_ = false;  // the record ended at a CR: a following LF belongs to it
  std::string data_;      // the current record's field bytes, back to back
  std::vector<std::size_t> ends_;
  std::vector<std::string_view> views_;
  std::string error_;
  std::int64_t records_ = 0;
};

}  // namespace sgs::sync
