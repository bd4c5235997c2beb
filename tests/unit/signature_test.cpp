// Signed Event Webhook verification against SendGrid's official vectors (sendgrid-api.md §9).
#include "events/signature.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <variant>

#include "signature_vectors.hpp"
#include "webhook/auth.hpp"

namespace {

using sgs::events::signature_verifier;

using sgs::test::other_key;
using sgs::test::v1_key;
using sgs::test::v1_signature;
using sgs::test::v1_timestamp;
using sgs::test::v2_key;
using sgs::test::v2_signature;
using sgs::test::v2_timestamp;

std::string read_data(const std::string& name) { return sgs::test::signature_payload(name); }

signature_verifier verifier(const std::vector<std::string>& keys) {
  auto v = signature_verifier::from_base64_keys(keys);
  if (auto* e = std::get_if<std::string>(&v)) throw std::runtime_error(*e);
  return std::get<signature_verifier>(std::move(v));
}

TEST(Signature, VectorV1Verifies) {
  const std::string payload = read_data("v1_payload.json");
  ASSERT_EQ(payload.size(), 327u);
  EXPECT_TRUE(verifier({v1_key}).verify(v1_timestamp, payload, v1_signature));
}

TEST(Signature, VectorV2WithCrLfBetweenEventsVerifies) {
  const std::string payload = read_data("v2_payload.json");
  ASSERT_EQ(payload.size(), 889u);
  EXPECT_TRUE(verifier({v2_key}).verify(v2_timestamp, payload, v2_signature));
}

TEST(Signature, AnyOfSeveralKeysMayVerify) {
  EXPECT_TRUE(verifier({other_key, v1_key})
                  .verify(v1_timestamp, read_data("v1_payload.json"), v1_signature));
}

TEST(Signature, NegativeCasesOfTheOfficialVectorsFail) {
  const std::string payload = read_data("v1_payload.json");
  EXPECT_FALSE(verifier({other_key}).verify(v1_timestamp, payload, v1_signature)) << "bad key";
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, "payload", v1_signature)) << "bad payload";
  EXPECT_FALSE(
      verifier({v1_key}).verify(v1_timestamp, payload,
                                "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/"
                                "U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="))
      << "bad signature";
  EXPECT_FALSE(verifier({v1_key}).verify("timestamp", payload, v1_signature)) << "bad timestamp";
  EXPECT_FALSE(verifier({v1_key}).verify("", payload, v1_signature)) << "empty timestamp";
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload, v1_signature + "causing failure"))
      << "corrupted sig";
  EXPECT_FALSE(
      verifier({v1_key}).verify(v1_timestamp, payload.substr(0, payload.size() - 2), v1_signature))
      << "no trailing CRLF";
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload.substr(0, payload.size() - 2) + "\n",
                                         v1_signature))
      << "LF instead of CRLF";
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload,
                                         "BADSIGNATURE+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiE\n    "
                                         "    AyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="))
      << "PHP bad sig";
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload, "")) << "no signature";
}

TEST(Signature, CorruptedOrForeignKeysAreRefusedWithTheirPosition) {
  auto bad = signature_verifier::from_base64_keys({v1_key, v1_key + "corrupting the public key"});
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_NE(std::get<std::string>(bad).find("[1]"), std::string::npos);
  EXPECT_TRUE(
      std::holds_alternative<std::string>(signature_verifier::from_base64_keys({"bm90IGEga2V5"})));
}

TEST(Signature, KeyWithEmbeddedWhitespaceIsAccepted) {
  const std::string wrapped = v1_key.substr(0, 40) + "\n        " + v1_key.substr(40);
  EXPECT_TRUE(verifier({wrapped}).verify(v1_timestamp, read_data("v1_payload.json"), v1_signature));
}

TEST(BasicAuth, HeaderIsBase64OfUserColonPassword) {
  EXPECT_EQ(sgs::webhook::basic_auth_header("Aladdin:open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST(BasicAuth, WrongOrMissingCredentialsGet401WithChallenge) {
  sgs::webhook::source_auth auth;
  auth.basic_auth_header = sgs::webhook::basic_auth_header("u:p");
  EXPECT_FALSE(sgs::webhook::check_basic_auth(auth, "Basic dTpw").has_value());
  auto missing = sgs::webhook::check_basic_auth(auth, "");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->headers.at(0).first, "WWW-Authenticate");
  EXPECT_EQ(sgs::webhook::check_basic_auth(auth, "Basic dTpx")->status, 401);
}

TEST(BasicAuth, TheSchemeIsCaseInsensitiveTheCredentialsAreNot) {
  sgs::webhook::source_auth auth;
  auth.basic_auth_header = sgs::webhook::basic_auth_header("u:p");
  for (const char* ok : {"Basic dTpw", "basic dTpw", "BASIC dTpw", "bAsIc  dTpw"}) {
    EXPECT_FALSE(sgs::webhook::check_basic_auth(auth, ok).has_value()) << ok;
  }
  for (const char* bad :
       {"Basic dTPW", "Basic", "Basic ", "Basicx dTpw", "Bearer dTpw", "dTpw", "Basi dTpw"}) {
    EXPECT_EQ(sgs::webhook::check_basic_auth(auth, bad)->status, 401) << bad;
  }
}

TEST(Signature, Base64UrlAndUnpaddedSignaturesVerifyAsSendGridsLibraryAccepts) {
  const std::string payload = read_data("v1_payload.json");
  std::string url(v1_signature);
  for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  std::string unpadded = url;
  while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
  EXPECT_TRUE(verifier({v1_key}).verify(v1_timestamp, payload, url));
  EXPECT_TRUE(verifier({v1_key}).verify(v1_timestamp, payload, unpadded));
  std::string one_extra = unpadded + "A";  // a group of one character holds no whole byte
  std::string out;
  EXPECT_FALSE(
      sgs::events::decode_base64("QUJD"
                                 "Q",
                                 out));
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload, one_extra));
  EXPECT_FALSE(verifier({v1_key}).verify(v1_timestamp, payload, url + "=="));
}

TEST(SignatureCheck, ATimestampThatIsNotAnIntegerIsRefused) {
  auto v = verifier({v1_key});
  sgs::webhook::source_auth auth;
  auth.verifier = &v;
  const std::string payload = read_data("v1_payload.json");
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1600112502));
  for (const char* ts : {"1600112502.0", "+1600112502", " 1600112502", "16001125020000000000",
                         "0x5f5fc776", "1e9"}) {
    auto r = sgs::webhook::check_signature(auth, ts, v1_signature, payload, now);
    ASSERT_TRUE(r.has_value()) << ts;
    EXPECT_EQ(r->status, 403) << ts;
  }
}

TEST(SignatureCheck, MaxAgeRefusesStaleTimestampsOnlyWhenConfigured) {
  auto v = verifier({v1_key});
  sgs::webhook::source_auth auth;
  auth.verifier = &v;
  const std::string payload = read_data("v1_payload.json");
  const auto later = std::chrono::system_clock::time_point(std::chrono::seconds(1600112502 + 3600));
  EXPECT_FALSE(
      sgs::webhook::check_signature(auth, v1_timestamp, v1_signature, payload, later).has_value());
  auth.max_age_seconds = 600;
  EXPECT_EQ(sgs::webhook::check_signature(auth, v1_timestamp, v1_signature, payload, later)->status,
            403);
}

}  // namespace
