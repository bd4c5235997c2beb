// text::iso8601_utc and parse_iso8601_utc read each other back to the millisecond.
#include "text/iso8601.hpp"

#include <gtest/gtest.h>

namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(Iso8601, WhatIsWrittenReadsBackToTheMillisecond) {
  const system_clock::time_point t{milliseconds(1765125841123)};
  EXPECT_EQ(sgs::text::iso8601_utc(t), "2025-12-07T16:44:01.123Z");
  EXPECT_EQ(sgs::text::parse_iso8601_utc("2025-12-07T16:44:01.123Z"), t);
  EXPECT_EQ(sgs::text::parse_iso8601_utc("2025-12-07T16:44:01.007Z"),
            system_clock::time_point{milliseconds(1765125841007)});
}

TEST(Iso8601, SecondsAloneAndSendGridsSpacedFormAreRead) {
  const system_clock::time_point t{milliseconds(1765125841000)};
  EXPECT_EQ(sgs::text::parse_iso8601_utc("2025-12-07T16:44:01Z"), t);
  EXPECT_EQ(sgs::text::parse_iso8601_utc("2025-12-07T16:44:01"), t);
  EXPECT_EQ(sgs::text::parse_iso8601_utc("2025-12-07T16:44:01.12"), t);  // not .mmm
}

TEST(Iso8601, AnythingElseIsNotATime) {
  EXPECT_FALSE(sgs::text::parse_iso8601_utc("x"));
  EXPECT_FALSE(sgs::text::parse_iso8601_utc(""));
}

}  // namespace
