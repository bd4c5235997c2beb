// Keys stored by `webhook configure`: the table (real SQLite file in a temp dir), the
// daemon's reader that re-reads only when the file changed, and the verifier's refresh
// (at most once per interval, with an injected clock).
#include "webhook/stored_keys.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <sstream>

#include "signature_vectors.hpp"
#include "store/sqlite_event_store.hpp"
#include "store/webhook_keys.hpp"
#include "webhook/auth.hpp"

using namespace std::chrono_literals;

namespace {

using sgs::test::other_key;
using sgs::test::v1_key;
using sgs::test::v1_signature;
using sgs::test::v1_timestamp;

std::string v1_payload() { return sgs::test::signature_payload("v1_payload.json"); }

struct temp_file {
  std::filesystem::path dir;
  temp_file() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("sgs-keys-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir);
  }
  ~temp_file() { std::filesystem::remove_all(dir); }
  std::filesystem::path db() const { return dir / "s.db"; }
};

sgs::store::stored_webhook_key key(const std::string& k, const std::string& id = "wh1") {
  return {k, id, "https://events.example.com/webhooks/sendgrid/s", "2026-01-01T00:00:00.000Z"};
}

}  // namespace

TEST(WebhookKeyTable, AddCreatesAndMigratesTheFileAndIgnoresARepeat) {
  temp_file t;
  EXPECT_TRUE(sgs::store::read_webhook_keys(t.db()).empty());  // no file yet
  EXPECT_TRUE(sgs::store::add_webhook_key(t.db(), key(v1_key), 1000ms));
  EXPECT_FALSE(sgs::store::add_webhook_key(t.db(), key(v1_key, "again"), 1000ms));
  EXPECT_TRUE(sgs::store::add_webhook_key(t.db(), key(other_key, "wh2"), 1000ms));
  const auto keys = sgs::store::read_webhook_keys(t.db());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].public_key, v1_key);
  EXPECT_EQ(keys[0].webhook_id, "wh1");
  EXPECT_EQ(keys[1].webhook_id, "wh2");
  // The file is a full source database an event store opens as it is.
  sgs::store::store_options o;
  o.file = t.db();
  auto store = sgs::store::sqlite_event_store::open(o);
  store->close();
  EXPECT_EQ(sgs::store::read_webhook_keys(t.db()).size(), 2u);
}

TEST(WebhookKeyReader, ReReadsOnlyAfterAnotherConnectionCommitted) {
  temp_file t;
  sgs::store::webhook_key_reader reader(t.db());
  auto first = reader.read_if_changed();  // no file: no keys
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->empty());
  ASSERT_TRUE(sgs::store::add_webhook_key(t.db(), key(v1_key), 1000ms));
  auto opened = reader.read_if_changed();  // first look at the file
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, std::vector<std::string>{v1_key});
  EXPECT_FALSE(reader.read_if_changed()) << "nothing committed since";
  ASSERT_TRUE(sgs::store::add_webhook_key(t.db(), key(other_key, "wh2"), 1000ms));
  auto changed = reader.read_if_changed();
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->size(), 2u);
  EXPECT_FALSE(reader.read_if_changed());
}

TEST(StoredKeys, LoadsAtConstructionAndRefreshesAtMostOncePerInterval) {
  auto now = std::chrono::steady_clock::time_point(100s);
  int loads = 0;
  std::vector<std::string> keys;
  sgs::webhook::stored_keys stored(
      [&]() -> std::optional<std::vector<std::string>> {
        ++loads;
        return keys;
      },
      {}, 1000ms, [&] { return now; });
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(stored.current(), nullptr);
  keys = {v1_key};
  now += 999ms;
  EXPECT_EQ(stored.current(), nullptr) << "within the interval: not re-read";
  EXPECT_EQ(loads, 1);
  now += 1ms;
  auto verifier = stored.current();
  EXPECT_EQ(loads, 2);
  ASSERT_NE(verifier, nullptr);
  EXPECT_TRUE(verifier->verify(v1_timestamp, v1_payload(), v1_signature));
  EXPECT_EQ(stored.key_count(), 1u);
}

// The cause of SetupTest.StoredKeyIsUsedByARunningServerWithoutRestart failing on a fresh
// machine (issue 13): SendGrid's test batch reached the server right after `configure` stored
// the key, so a connection thread was refreshing when the caller asked; with try_lock the
// caller got the snapshot being replaced (no key) instead of waiting for the refresh.
TEST(StoredKeys, ACallerDuringARefreshGetsItsResultNotTheOldSnapshot) {
  std::mutex m;
  std::condition_variable cv;
  bool in_load = false, release = false;
  std::vector<std::string> keys;  // none at construction
  int loads = 0;
  sgs::webhook::stored_keys stored(
      [&]() -> std::optional<std::vector<std::string>> {
        std::unique_lock lock(m);
        if (++loads == 2) {  // the refresh of the "connection thread": held until released
          in_load = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
        }
        return keys;
      },
      {}, 0ms);
  {
    std::lock_guard lock(m);
    keys = {v1_key};  // `webhook configure` committed the key
  }
  auto connection = std::async(std::launch::async, [&] { return stored.current(); });
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return in_load; }));
  }
  // The caller arrives while the connection thread's refresh is reading.
  auto caller = std::async(std::launch::async, [&] { return stored.current(); });
  EXPECT_EQ(caller.wait_for(100ms), std::future_status::timeout)
      << "returned the snapshot being replaced instead of waiting for the refresh";
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  EXPECT_NE(connection.get(), nullptr);
  EXPECT_NE(caller.get(), nullptr);
  EXPECT_EQ(stored.key_count(), 1u);
  EXPECT_LE(loads, 3);
}

TEST(StoredKeys, AFailedLoadKeepsTheKeysAndIsReportedOnce) {
  auto now = std::chrono::steady_clock::time_point(100s);
  bool fail = false;
  std::vector<std::string> errors;
  sgs::webhook::stored_keys stored(
      [&]() -> std::optional<std::vector<std::string>> {
        if (fail) throw std::runtime_error("database is locked");
        return std::vector<std::string>{v1_key};
      },
      [&](std::string_view e) { errors.emplace_back(e); }, 1000ms, [&] { return now; });
  fail = true;
  for (int i = 0; i < 3; ++i) {
    now += 2s;
    EXPECT_NE(stored.current(), nullptr) << "a locked file must not turn verification off";
  }
  EXPECT_EQ(errors, std::vector<std::string>{"database is locked"});
}

TEST(StoredKeys, ABadStoredKeyIsSkippedAndTheOthersWork) {
  std::vector<std::string> errors;
  sgs::webhook::stored_keys stored(
      [] {
        return std::optional<std::vector<std::string>>({"not-a-key", v1_key});
      },
      [&](std::string_view e) { errors.emplace_back(e); });
  ASSERT_NE(stored.current(), nullptr);
  EXPECT_EQ(stored.key_count(), 1u);
  EXPECT_EQ(errors.size(), 1u);
}

TEST(StoredKeys, SignatureCheckRequiresASignatureOnceAKeyIsStored) {
  std::vector<std::string> keys;
  auto now = std::chrono::steady_clock::time_point(100s);
  sgs::webhook::stored_keys stored([&] { return std::optional(keys); }, {}, 0ms,
                                   [&] { return now; });
  sgs::webhook::source_auth auth;
  auth.stored = &stored;
  const auto t = std::chrono::system_clock::now();
  EXPECT_FALSE(sgs::webhook::check_signature(auth, "", "", "[]", t)) << "no key: open";
  keys = {other_key, v1_key};
  auto refused = sgs::webhook::check_signature(auth, "", "", "[]", t);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(sgs::webhook::check_signature(auth, v1_timestamp, v1_signature, v1_payload(), t));
  EXPECT_TRUE(sgs::webhook::check_signature(auth, v1_timestamp, v1_signature, "[]", t));
}
