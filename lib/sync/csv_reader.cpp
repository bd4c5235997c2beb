// The CSV state machine: field_start -> unquoted | quoted; quoted -> quote_in_quoted on '"',
// which returns to quoted on a second '"' (an escaped quote) or ends the field otherwise.
#include "sync/csv_reader.hpp"

namespace sgs::sync {

bool csv_reader::end_field() {
  ends_.push_back(data_.size());
  return true;
}

bool csv_reader::end_record(const record_fn& on_record) {
  end_field();
  state_ = state::field_start;
  // A blank line is one empty field: not a record.
  if (ends_.size() == 1 && ends_[0] == 0) {
    ends_.clear();
    data_.clear();
    return true;
  }
  views_.clear();
  std::size_t begin = 0;
  for (std::size_t end : ends_) {
    views_.emplace_back(data_.data() + begin, end - begin);
    begin = end;
  }
  ++records_;
  const bool go_on = on_record(views_);
  ends_.clear();
  data_.clear();
  return go_on;
}

bool csv_reader::feed(std::string_view bytes, const record_fn& on_record) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    switch (state_) {
      case state::field_start:
        if (c == '"') {
          state_ = state::quoted;
          continue;
        }
        state_ = state::unquoted;
        [[fallthrough]];
      case state::unquoted:
        if (c == ',') {
          end_field();
          state_ = state::field_start;
        } else if (c == '\n' || c == '\r') {
          skip_lf_ = c == '\r';
          if (!end_record(on_record)) return false;
        } else {
          // Copy the run of plain bytes at once: most of a file is this.
          std::size_t j = i;
          while (j < bytes.size() && bytes[j] != ',' && bytes[j] != '\n' && bytes[j] != '\r') ++j;
          data_.append(bytes.data() + i, j - i);
          i = j - 1;
        }
        break;
      case state::quoted:
        if (c == '"') {
          state_ = state::quote_in_quoted;
        } else {
          std::size_t j = i;
          while (j < bytes.size() && bytes[j] != '"') ++j;
          data_.append(bytes.data() + i, j - i);
          i = j - 1;
        }
        break;
      case state::quote_in_quoted:
        if (c == '"') {
          data_ += '"';
          state_ = state::quoted;
        } else if (c == ',') {
          end_field();
          state_ = state::field_start;
        } else if (c == '\n' || c == '\r') {
          skip_lf_ = c == '\r';
          if (!end_record(on_record)) return false;
        } else {
          // Text after a closing quote ("ab"c): kept, as spreadsheets do.
          data_ += c;
          state_ = state::unquoted;
        }
        break;
    }
    if (data_.size() > max_record_bytes_) {
      error_ = "a CSV record is longer than " + std::to_string(max_record_bytes_) +
               " bytes (record " + std::to_string(records_ + 1) + ")";
      return false;
    }
  }
  return true;
}

bool csv_reader::finish(const record_fn& on_record) {
  if (state_ == state::quoted) {
    error_ = "the CSV ends inside a quoted field (record " + std::to_string(records_ + 1) +
             "): truncated file?";
    return false;
  }
  if (state_ == state::field_start && ends_.empty() && data_.empty()) return true;
  return end_record(on_record);
}

}  // namespace sgs::sync
