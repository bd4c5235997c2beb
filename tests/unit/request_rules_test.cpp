// The header rules of the public listener: framing, repeated credentials, Host, coding.
#include "webhook/request_rules.hpp"

#include <gtest/gtest.h>

using sgs::webhook::check_request_head;
using sgs::webhook::header_field;

namespace {

std::optional<int> status_of(unsigned version, std::vector<header_field> fields) {
  auto r = check_request_head(version, fields);
  if (!r) return std::nullopt;
  EXPECT_TRUE(r->close) << "every refusal closes the connection";
  return r->status;
}

}  // namespace

TEST(RequestRules, AnHonestRequestPasses) {
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Content-Length", "2"}}), std::nullopt);
  EXPECT_EQ(status_of(11, {{"host", "x"}, {"transfer-encoding", "Chunked"}}), std::nullopt);
  EXPECT_EQ(status_of(10, {{"Content-Length", "2"}}), std::nullopt);  // 1.0 needs no Host
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Content-Encoding", "identity"}}), std::nullopt);
}

TEST(RequestRules, EveryTransferCodingButChunkedIsNotImplemented) {
  for (const char* te : {"xchunked", "chunked, chunked", "identity", "gzip", "chunked, identity",
                         "\"chunked\"", "chunk", "gzip, chunked"}) {
    EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Transfer-Encoding", te}}), 501) << te;
  }
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Transfer-Encoding", ""}}), 400);
  EXPECT_EQ(
      status_of(
          11, {{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}),
      501);
}

TEST(RequestRules, TransferEncodingWithContentLengthOrOnHttp10IsRefused) {
  EXPECT_EQ(
      status_of(11, {{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}),
      400);
  EXPECT_EQ(
      status_of(11, {{"Host", "x"}, {"Content-Length", "5"}, {"Transfer-Encoding", "identity"}}),
      400);
  EXPECT_EQ(status_of(10, {{"Transfer-Encoding", "chunked"}}), 400);
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Content-Length", "5"}, {"Content-Length", "5"}}), 400);
}

TEST(RequestRules, HostMustAppearOnceOnHttp11) {
  EXPECT_EQ(status_of(11, {}), 400);
  EXPECT_EQ(status_of(11, {{"Host", "a"}, {"HOST", "b"}}), 400);
  EXPECT_EQ(status_of(10, {{"Host", "a"}, {"Host", "b"}}), 400);
}

TEST(RequestRules, CredentialsAndSignaturesMustAppearOnce) {
  for (const char* name : {"Authorization", "X-Twilio-Email-Event-Webhook-Signature",
                           "x-twilio-email-event-webhook-timestamp"}) {
    EXPECT_EQ(status_of(11, {{"Host", "x"}, {name, "a"}}), std::nullopt) << name;
    EXPECT_EQ(status_of(11, {{"Host", "x"}, {name, "a"}, {name, "a"}}), 400) << name;
  }
}

TEST(RequestRules, ContentCodingsOtherThanIdentityAreUnsupportedMediaType) {
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Content-Encoding", "gzip"}}), 415);
  EXPECT_EQ(status_of(11, {{"Host", "x"}, {"Content-Encoding", "identity, gzip"}}), 415);
  EXPECT_EQ(
      status_of(
          11, {{"Host", "x"}, {"Content-Encoding", "identity"}, {"Content-Encoding", "identity"}}),
      415);
}

TEST(RequestRules, ControlBytesInAnEchoedValueAreNotEchoed) {
  auto r = check_request_head(11, {{"Host", "x"}, {"Transfer-Encoding", "a\x01\x1b[31m"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find('\x1b'), std::string::npos);
  EXPECT_EQ(r->body.find("\\u001b"), std::string::npos);
}
