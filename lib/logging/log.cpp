// The sinks behind logging::install(), and the structured-field plumbing: log() hands its
// fields to the sink through a thread-local, because spdlog's default (synchronous) logger
// calls its sink on the logging thread within the same call.
#include "logging/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <vector>

#include "text/json.hpp"

namespace sgs::logging {

namespace {

constexpr const char* logger_name = "sendgrid-source";

// The fields of the log() call in progress on this thread (empty for plain spdlog calls).
thread_local std::span<const field> current_fields;

// Whether install() put our field-aware sinks in place; before that (or in a program that
// never calls it) log() folds the fields into the message text.
std::atomic<bool> installed{false};

std::string_view payload_of(const spdlog::details::log_msg& msg) {
  return {msg.payload.data(), msg.payload.size()};
}

// Text: the wrapped sink (colours, pattern) gets the message with " key=value" appended.
class text_sink final : public spdlog::sinks::sink {
 public:
  explicit text_sink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    if (current_fields.empty()) return inner_->log(msg);
    const std::string line = text_line(payload_of(msg), current_fields);
    spdlog::details::log_msg with_fields = msg;
    with_fields.payload = spdlog::string_view_t(line.data(), line.size());
    inner_->log(with_fields);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

// journald: spdlog's sink for plain lines; with fields, the same record plus one journal
// field per structured field.
class journald_sink final : public spdlog::sinks::systemd_sink<std::mutex> {
 public:
  journald_sink() : systemd_sink(logger_name) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (current_fields.empty()) return systemd_sink::sink_it_(msg);
    auto items =
        journal_record(payload_of(msg), syslog_levels_.at(static_cast<std::size_t>(msg.level)),
                       ident_, current_fields);
    std::vector<iovec> iov;
    iov.reserve(items.size());
    for (auto& s : items) iov.push_back({s.data(), s.size()});
    // A journal that cannot take the record has nowhere better to report that.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
};

// JSON lines: one object per record, written whole with one fwrite.
class json_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit json_sink(std::FILE* out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto t = msg.time;
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char time[80];
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = json_line(time, std::string_view(level.data(), level.size()),
                                 payload_of(msg), current_fields);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  std::FILE* out_;
};

}  // namespace

std::string_view target_name(target t) {
  switch (t) {
    case target::terminal:
      return "terminal";
    case target::plain:
      return "plain";
    case target::journald:
      return "journald";
    case target::json:
      return "json";
  }
  return "plain";
}

bool journal_stream_matches(std::string_view journal_stream, std::uint64_t dev, std::uint64_t ino) {
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  std::uint64_t want_dev = 0;
  std::uint64_t want_ino = 0;
  const char* begin = journal_stream.data();
  const char* mid = begin + colon;
  const char* end = begin + journal_stream.size();
  const auto a = std::from_chars(begin, mid, want_dev);
  const auto b = std::from_chars(mid + 1, end, want_ino);
  if (a.ec != std::errc() || a.ptr != mid || b.ec != std::errc() || b.ptr != end) return false;
  return colon > 0 && want_dev == dev && want_ino == ino;
}

target choose_target(config::log_format format, bool stderr_is_journal, bool stderr_is_tty) {
  if (format == config::log_format::json) return target::json;
  if (stderr_is_journal) return target::journald;
  return stderr_is_tty ? target::terminal : target::plain;
}

target detect_target(config::log_format format) {
  bool journal = false;
  if (const char* js = std::getenv("JOURNAL_STREAM")) {
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) == 0) {
      journal = journal_stream_matches(js, static_cast<std::uint64_t>(st.st_dev),
                                       static_cast<std::uint64_t>(st.st_ino));
    }
  }
  return choose_target(format, journal, isatty(STDERR_FILENO) != 0);
}

void install(target t, std::string_view level, std::FILE* out) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  switch (t) {
    case target::terminal:
      sink = std::make_shared<text_sink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
      sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
      break;
    case target::plain:
      sink = std::make_shared<text_sink>(
          std::make_shared<spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>>(out));
      // The journal (or whoever reads the pipe) adds its own time stamp.
      sink->set_pattern("%l: %v");
      break;
    case target::journald:
      sink = std::make_shared<journald_sink>();
      break;
    case target::json:
      sink = std::make_shared<json_sink>(out);
      break;
  }
  spdlog::drop(logger_name);
  auto logger = std::make_shared<spdlog::logger>(logger_name, std::move(sink));
  spdlog::set_default_logger(logger);
  set_level(level);
  installed = true;
}

bool set_level(std::string_view level) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> names[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
  };
  for (const auto& [name, value] : names) {
    if (name == level) {
      spdlog::set_level(value);
      return true;
    }
  }
  return false;
}

void log(spdlog::level::level_enum level, std::string_view message,
         std::initializer_list<field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  if (!installed) {
    logger->log(level, "{}", text_line(message, {fields.begin(), fields.size()}));
    return;
  }
  current_fields = std::span<const field>(fields.begin(), fields.size());
  try {
    logger->log(level, "{}", message);
  } catch (...) {
    current_fields = {};
    throw;
  }
  current_fields = {};
}

std::string text_line(std::string_view message, std::span<const field> fields) {
  std::string out(message);
  for (const auto& f : fields) {
    if (f.value.empty()) continue;
    out += ' ';
    out += f.key;
    out += '=';
    const bool quote = f.value.find_first_of(" \t\"=") != std::string::npos;
    if (!quote) {
      out += f.value;
      continue;
    }
    out += '"';
    for (char c : f.value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string json_line(std::string_view time, std::string_view level, std::string_view message,
                      std::span<const field> fields) {
  std::string out = "{\"time\":";
  text::append_json_string(out, time);
  out += ",\"level\":";
  text::append_json_string(out, level);
  out += ",\"msg\":";
  text::append_json_string(out, message);
  for (const auto& f : fields) {
    if (f.value.empty()) continue;
    out += ',';
    text::append_json_string(out, f.key);
    out += ':';
    if (f.number) {
      out += f.value;
    } else {
      text::append_json_string(out, f.value);
    }
  }
  out += '}';
  return out;
}

std::vector<std::string> journal_record(std::string_view message, int priority,
                                        std::string_view identifier,
                                        std::span<const field> fields) {
  std::vector<std::string> items;
  items.reserve(fields.size() + 3);
  items.push_back("MESSAGE=" + text_line(message, fields));
  items.push_back("PRIORITY=" + std::to_string(priority));
  items.push_back("SYSLOG_IDENTIFIER=" + std::string(identifier));
  for (const auto& f : fields) {
    if (f.value.empty()) continue;
    items.push_back(journal_field_name(f.key) + "=" + f.value);
  }
  return items;
}

std::string journal_field_name(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '_';
    }
  }
  if (out.empty() || out.front() == '_' || (out.front() >= '0' && out.front() <= '9'))
    out.insert(0, "F");
  return out;
}

}  // namespace sgs::logging
