// Unit tests for text/strings: the ASCII helpers the header rules and auth share.
#include <gtest/gtest.h>

#include "text/strings.hpp"

namespace {

using sgs::text::excerpt;
using sgs::text::iequals;
using sgs::text::trim;

TEST(TextStrings, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("Basic ", "Basic\t"));
  // Non-ASCII bytes compare exactly: no locale folds them.
  EXPECT_FALSE(iequals("\xC3\x84", "\xC3\xA4"));
  EXPECT_FALSE(iequals("a[", "A{"));  // '[' and '{' differ by the case bit but are not letters
}

TEST(TextStrings, TrimRemovesOnlyTheGivenBlanksAtBothEnds) {
  EXPECT_EQ(trim(" \tchunked\t "), "chunked");
  EXPECT_EQ(trim("a b"), "a b");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\nx\n"), "\nx\n");  // HTTP's optional whitespace is space and tab only
  EXPECT_EQ(trim("\nx\r\n", "\r\n"), "x");
}

TEST(TextStrings, ExcerptCutsAndHidesControlBytes) {
  EXPECT_EQ(excerpt("gzip"), "gzip");
  EXPECT_EQ(excerpt("a\x01"
                    "b\x7f"),
            "a?b?");
  EXPECT_EQ(excerpt(std::string(64, 'x')), std::string(64, 'x'));
  EXPECT_EQ(excerpt(std::string(65, 'x')), std::string(64, 'x') + "...");
  EXPECT_EQ(excerpt("abcdef", 3), "abc...");
}

}  // namespace
