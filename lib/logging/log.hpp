// Where log lines go and how they look: readable text on a terminal, journald with structured
// fields under systemd, one JSON object per line for log shippers (log.format = "json").
#pragma once

#include <spdlog/spdlog.h>

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace sgs::logging {

enum class target {
  terminal,  // stderr is a terminal: time, coloured level, message
  plain,     // stderr is a pipe or file (not the journal): "level: message"
  journald,  // stderr is systemd's journal stream: sd_journal_send with fields
  json,      // log.format = "json": one JSON object per line on stderr
};
std::string_view target_name(target t);

// systemd sets JOURNAL_STREAM="DEV:INO" for a service whose stderr it connects to the
// journal. stderr is that stream only while its device and inode still match: a child whose
// stderr was redirected inherits the variable but not the stream (systemd.exec(5)).
bool journal_stream_matches(std::string_view journal_stream, std::uint64_t dev, std::uint64_t ino);

// json when asked for; else journald when stderr is the journal; else text.
target choose_target(config::log_format format, bool stderr_is_journal, bool stderr_is_tty);

// choose_target() for this process's environment and stderr.
target detect_target(config::log_format format);

// Installs the default logger ("sendgrid-source") for `t` at `level` (trace, debug, info,
// warn, error). Plain text and JSON go to `out` (a terminal is always stderr). Call once,
// before other threads log.
void install(target t, std::string_view level, std::FILE* out = stderr);

// Changes the level of the installed logger (SIGHUP); false for an unknown level name.
bool set_level(std::string_view level);

// A structured field. Keys are lower-case snake_case; journald gets them upper-cased
// (SOURCE=shop). A field with an empty value is left out. Never put secrets or request
// bodies in a field.
struct field {
  field(std::string_view k, std::string_view v) : key(k), value(v) {}
  field(std::string_view k, const std::string& v) : key(k), value(v) {}
  field(std::string_view k, const char* v) : key(k), value(v) {}
  template <std::integral T>
  field(std::string_view k, T v) : key(k), value(std::to_string(v)), number(true) {}
  std::string_view key;
  std::string value;
  bool number = false;  // rendered as a JSON number
};

// Logs `message` with fields: the journal records each as a field (and the message shows
// them as key=value, so `journalctl` reads the same as a terminal); JSON makes them keys of
// the object; text appends " key=value" to the message.
void log(spdlog::level::level_enum level, std::string_view message,
         std::initializer_list<field> fields);
inline void info(std::string_view message, std::initializer_list<field> fields) {
  log(spdlog::level::info, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<field> fields) {
  log(spdlog::level::warn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<field> fields) {
  log(spdlog::level::err, message, fields);
}

// The renderings, pure (used by the sinks; tested on their own).
// "message key=value key=\"two words\""
std::string text_line(std::string_view message, std::span<const field> fields);
// {"time":"...","level":"info","msg":"message","key":"value","count":3}
std::string json_line(std::string_view time, std::string_view level, std::string_view message,
                      std::span<const field> fields);
// "SOURCE" for "source": journald field names are upper-case letters, digits and '_'.
std::string journal_field_name(std::string_view key);
// The journal entry for one line: MESSAGE (the text line, so `journalctl` reads like a
// terminal), PRIORITY (syslog), SYSLOG_IDENTIFIER, then one NAME=value per non-empty field.
std::vector<std::string> journal_record(std::string_view message, int priority,
                                        std::string_view identifier, std::span<const field> fields);

}  // namespace sgs::logging
