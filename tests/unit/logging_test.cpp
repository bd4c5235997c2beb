// Unit tests for lib/logging: the repeat limiter (injected clock), the text / JSON / journald
// renderings, choosing the target from JOURNAL_STREAM, and the JSON sink end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "logging/log.hpp"
#include "logging/repeat_limiter.hpp"

namespace sgs::logging {
namespace {

using namespace std::chrono_literals;

struct fake_clock {
  repeat_limiter::clock::time_point now{};
  std::function<repeat_limiter::clock::time_point()> fn() {
    return [this] { return now; };
  }
};

TEST(RepeatLimiter, LogsTheFirstOccurrenceThenCountsUntilTheIntervalIsOver) {
  fake_clock clock;
  repeat_limiter limiter(60s, clock.fn());
  auto v = limiter.allow("disk full shop");
  EXPECT_TRUE(v.log);
  EXPECT_EQ(v.repeats, 0u);
  for (int i = 0; i < 532; ++i) {
    clock.now += 100ms;  // 53.2 s in all: still inside the interval
    EXPECT_FALSE(limiter.allow("disk full shop").log) << i;
  }
  clock.now += 6800ms;  // 60 s after the first line
  v = limiter.allow("disk full shop");
  EXPECT_TRUE(v.log);
  EXPECT_EQ(v.repeats, 532u);
  EXPECT_EQ(v.window, 60s);
  EXPECT_EQ(repeat_limiter::suffix(v), " (repeated 532 times in the last 60 s)");
  // The count starts over after a logged line.
  clock.now += 1s;
  EXPECT_FALSE(limiter.allow("disk full shop").log);
  clock.now += 60s;
  v = limiter.allow("disk full shop");
  EXPECT_TRUE(v.log);
  EXPECT_EQ(v.repeats, 1u);
  EXPECT_EQ(repeat_limiter::suffix(v), " (repeated 1 time in the last 61 s)");
}

TEST(RepeatLimiter, KeysAreIndependent) {
  fake_clock clock;
  repeat_limiter limiter(60s, clock.fn());
  EXPECT_TRUE(limiter.allow("shop 403").log);
  EXPECT_TRUE(limiter.allow("shop 401").log);
  EXPECT_TRUE(limiter.allow("crm 403").log);
  EXPECT_FALSE(limiter.allow("shop 403").log);
  EXPECT_FALSE(limiter.allow("crm 403").log);
}

TEST(RepeatLimiter, AnOccurrenceAfterAQuietIntervalIsLoggedWithoutACount) {
  fake_clock clock;
  repeat_limiter limiter(60s, clock.fn());
  EXPECT_TRUE(limiter.allow("k").log);
  clock.now += 10min;
  const auto v = limiter.allow("k");
  EXPECT_TRUE(v.log);
  EXPECT_EQ(v.repeats, 0u);
  EXPECT_EQ(repeat_limiter::suffix(v), "");
}

TEST(RepeatLimiter, StaysBoundedWhenKeysKeepChanging) {
  fake_clock clock;
  repeat_limiter limiter(60s, clock.fn(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.allow("k" + std::to_string(i)).log);
  // Full: new keys share one overflow entry (logged once per interval) instead of growing
  // the map or being logged every time.
  EXPECT_TRUE(limiter.allow("new").log);
  EXPECT_FALSE(limiter.allow("newer").log);
  EXPECT_FALSE(limiter.allow("newest").log);
  // Once the old keys' interval is over they are forgotten and a new key is tracked again.
  clock.now += 61s;
  EXPECT_TRUE(limiter.allow("new").log);
  EXPECT_FALSE(limiter.allow("new").log);
}

TEST(LogRendering, TextAppendsFieldsAndQuotesValuesWithSpaces) {
  const std::vector<field> fields = {{"source", "shop"},
                                     {"events", 15},
                                     {"reason", "database or disk is full"},
                                     {"error", ""},
                                     {"quote", "a\"b"}};
  EXPECT_EQ(text_line("sync", fields),
            "sync source=shop events=15 reason=\"database or disk is full\" quote=\"a\\\"b\"");
}

TEST(LogRendering, JsonIsOneObjectWithFieldsAsKeysAndNumbersAsNumbers) {
  const std::vector<field> fields = {{"source", "shop"}, {"events", 15}, {"error", ""}};
  EXPECT_EQ(json_line("2026-11-27T16:00:00.000Z", "warning", "said \"hi\"\n", fields),
            R"({"time":"2026-11-27T16:00:00.000Z","level":"warning","msg":"said \"hi\"\n",)"
            R"("source":"shop","events":15})");
}

TEST(LogRendering, JournalFieldNamesAreUpperCase) {
  EXPECT_EQ(journal_field_name("source"), "SOURCE");
  EXPECT_EQ(journal_field_name("rate_limit_waits"), "RATE_LIMIT_WAITS");
  EXPECT_EQ(journal_field_name("x-y"), "X_Y");
  EXPECT_EQ(journal_field_name("_private"), "F_PRIVATE");  // '_' first is journald's own
}

TEST(LogRendering, JournalRecordHasTheTextMessageSyslogPriorityAndOneFieldPerValue) {
  const std::vector<field> fields = {
      {"source", "crm"}, {"collection", "lists"}, {"upserted", 3}, {"error", ""}};
  EXPECT_EQ(journal_record("sync", 6, "sendgrid-source", fields),
            (std::vector<std::string>{"MESSAGE=sync source=crm collection=lists upserted=3",
                                      "PRIORITY=6", "SYSLOG_IDENTIFIER=sendgrid-source",
                                      "SOURCE=crm", "COLLECTION=lists", "UPSERTED=3"}));
}

TEST(LogTarget, JournalStreamMustMatchStderrDeviceAndInode) {
  EXPECT_TRUE(journal_stream_matches("8:12345", 8, 12345));
  EXPECT_FALSE(journal_stream_matches("8:12345", 8, 12346));  // stderr was redirected
  EXPECT_FALSE(journal_stream_matches("9:12345", 8, 12345));
  EXPECT_FALSE(journal_stream_matches("", 8, 12345));
  EXPECT_FALSE(journal_stream_matches("8:", 8, 0));
  EXPECT_FALSE(journal_stream_matches(":12345", 0, 12345));
  EXPECT_FALSE(journal_stream_matches("8:12345x", 8, 12345));
}

TEST(LogTarget, JsonWinsThenTheJournalThenTerminalOrPlain) {
  using config::log_format;
  EXPECT_EQ(choose_target(log_format::json, true, true), target::json);
  EXPECT_EQ(choose_target(log_format::text, true, false), target::journald);
  EXPECT_EQ(choose_target(log_format::text, false, true), target::terminal);
  EXPECT_EQ(choose_target(log_format::text, false, false), target::plain);
}

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}

TEST(LogSinks, JsonSinkWritesOneObjectPerLineWithTheFieldsAndHonoursTheLevel) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  install(target::json, "info", f);
  spdlog::info("plain {} line", 1);
  warn("webhook request refused", {{"source", "shop"}, {"status", 403}});
  log(spdlog::level::debug, "not shown at info", {{"source", "shop"}});
  EXPECT_TRUE(set_level("debug"));
  log(spdlog::level::debug, "shown at debug", {{"source", "crm"}});
  EXPECT_FALSE(set_level("loud"));
  spdlog::default_logger()->flush();
  const std::string text = read_all(f);
  install(target::plain, "info");  // later tests log to stderr again
  std::fclose(f);

  std::vector<std::string> lines;
  for (std::size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_NE(lines[0].find(R"("level":"info","msg":"plain 1 line"})"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"("msg":"webhook request refused","source":"shop","status":403})"),
            std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find(R"("level":"debug","msg":"shown at debug","source":"crm"})"),
            std::string::npos)
      << lines[2];
  for (const auto& l : lines) EXPECT_TRUE(l.starts_with(R"({"time":")")) << l;
}

TEST(LogSinks, PlainTextSinkAppendsFieldsToTheMessage) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  install(target::plain, "info", f);
  info("sync", {{"source", "crm"}, {"collection", "lists"}, {"upserted", 3}});
  spdlog::default_logger()->flush();
  const std::string text = read_all(f);
  install(target::plain, "info");
  std::fclose(f);
  EXPECT_EQ(text, "info: sync source=crm collection=lists upserted=3\n");
}

}  // namespace
}  // namespace sgs::logging
