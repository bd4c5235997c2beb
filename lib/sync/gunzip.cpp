// zlib inflate with gzip framing (windowBits 15 + 16), reset between concatenated members.
#include "sync/gunzip.hpp"

#include <zlib.h>

#include <vector>

namespace sgs::sync {

struct gunzip_stream::impl {
  z_stream z{};
  bool initialised = false;
  enum class mode { unknown, gzip, plain } kind = mode::unknown;
  std::string head;  // the first byte, when the first chunk had only one
  bool in_member = false;
  std::vector<unsigned char> out = std::vector<unsigned char>(64 * 1024);
  ~impl() {
    if (initialised) inflateEnd(&z);
  }
};

gunzip_stream::gunzip_stream() : impl_(std::make_unique<impl>()) {}
gunzip_stream::~gunzip_stream() = default;

bool gunzip_stream::feed(std::string_view in, const sink_fn& out) {
  auto& s = *impl_;
  if (s.kind == impl::mode::unknown) {
    s.head.append(in);
    if (s.head.size() < 2) return true;
    const bool gzip = static_cast<unsigned char>(s.head[0]) == 0x1f &&
                      static_cast<unsigned char>(s.head[1]) == 0x8b;
    s.kind = gzip ? impl::mode::gzip : impl::mode::plain;
    std::string first = std::move(s.head);
    s.head.clear();
    return feed(first, out);
  }
  if (s.kind == impl::mode::plain) return out(in);

  if (!s.initialised) {
    if (inflateInit2(&s.z, 15 + 16) != Z_OK) {
      error_ = "cannot initialise zlib";
      return false;
    }
    s.initialised = true;
  }
  s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.z.avail_in = static_cast<uInt>(in.size());
  while (s.z.avail_in > 0) {
    s.z.next_out = s.out.data();
    s.z.avail_out = static_cast<uInt>(s.out.size());
    s.in_member = true;
    const int rc = inflate(&s.z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      error_ = std::string("the export file is not valid gzip: ") +
               (s.z.msg ? s.z.msg : "inflate failed");
      return false;
    }
    const std::size_t produced = s.out.size() - s.z.avail_out;
    if (produced > 0 &&
        !out(std::string_view(reinterpret_cast<const char*>(s.out.data()), produced)))
      return false;
    if (rc == Z_STREAM_END) {
      s.in_member = false;
      inflateReset(&s.z);  // a next member may follow
    } else if (rc == Z_BUF_ERROR && produced == 0) {
      break;  // needs more input
    }
  }
  return true;
}

bool gunzip_stream::finish(const sink_fn& out) {
  auto& s = *impl_;
  if (s.kind == impl::mode::unknown && !s.head.empty()) return out(s.head);  // a 1-byte file
  if (s.kind == impl::mode::gzip && s.in_member) {
    error_ = "the export file's gzip data ends early: truncated download?";
    return false;
  }
  return true;
}

}  // namespace sgs::sync
