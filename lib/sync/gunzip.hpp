// Streaming gunzip (zlib) for export files, passing data through unchanged when it is not gzip.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sgs::sync {

// Decompresses as bytes arrive, in 64 KiB output chunks, so a file of any size costs the same
// memory. Whether the data is gzip is decided by its first two bytes (1f 8b): export files
// are gzip, but a server or proxy that already decoded them sends plain text. Several gzip
// members back to back (as `cat a.gz b.gz`) are one stream.
class gunzip_stream {
 public:
  using sink_fn = std::function<bool(std::string_view)>;  // false = stop
  gunzip_stream();
  ~gunzip_stream();
  gunzip_stream(const gunzip_stream&) = delete;
  gunzip_stream& operator=(const gunzip_stream&) = delete;

  bool feed(std::string_view in, const sink_fn& out);  // false on corrupt data or sink stop
  // Ends the input; false when the gzip data ended early (a truncated file).
  bool finish(const sink_fn& out);
  const std::string& error() const { return error_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string error_;
};

}  // namespace sgs::sync
