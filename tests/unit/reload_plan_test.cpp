// Unit tests for config/reload: what a SIGHUP applies and what needs a restart.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/reload.hpp"

namespace sgs::config {
namespace {

config two_sources() {
  config c = default_config();
  c.sources.clear();
  source_config shop;
  shop.name = "shop";
  shop.webhook_verification_keys = {"KEY-A"};
  c.sources.push_back(shop);
  source_config crm;
  crm.name = "crm";
  c.sources.push_back(crm);
  return c;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ReloadPlan, AnUnchangedConfigChangesNothing) {
  const auto plan = plan_reload(two_sources(), two_sources());
  EXPECT_FALSE(plan.level_changed);
  EXPECT_TRUE(plan.auth_changed.empty());
  EXPECT_TRUE(plan.needs_restart.empty());
}

TEST(ReloadPlan, LevelAndWebhookAuthAreAppliedLive) {
  auto fresh = two_sources();
  fresh.log.level = "debug";
  fresh.sources[0].webhook_verification_keys = {"KEY-B"};
  fresh.sources[1].webhook_basic_auth = "user:pw";
  fresh.sources[1].from_email = "news@example.com";  // read by `check` only
  const auto plan = plan_reload(two_sources(), fresh);
  EXPECT_TRUE(plan.level_changed);
  EXPECT_EQ(plan.auth_changed, (std::vector<std::string>{"shop", "crm"}));
  EXPECT_TRUE(plan.needs_restart.empty());

  const auto applied = apply_reload(two_sources(), fresh);
  EXPECT_EQ(applied, fresh);
}

TEST(ReloadPlan, ListenStorageFormatAndSyncKeysNeedARestartAndKeepTheirRunningValue) {
  const auto running = two_sources();
  auto fresh = running;
  fresh.server.listen_port = 9090;
  fresh.storage.dir = "/elsewhere";
  fresh.log.format = log_format::json;
  fresh.sources[0].api_base = "https://api.eu.sendgrid.com";
  fresh.sources[1].sync_interval = std::chrono::hours(1);
  fresh.sources[0].webhook_verification_keys = {"KEY-B"};
  const auto plan = plan_reload(running, fresh);
  EXPECT_TRUE(has(plan.needs_restart, "server.listen"));
  EXPECT_TRUE(has(plan.needs_restart, "storage.dir"));
  EXPECT_TRUE(has(plan.needs_restart, "log.format"));
  EXPECT_TRUE(has(plan.needs_restart, "source shop: api_base"));
  EXPECT_TRUE(has(plan.needs_restart, "source crm: sync_interval"));
  EXPECT_EQ(plan.needs_restart.size(), 5u);
  EXPECT_EQ(plan.auth_changed, std::vector<std::string>{"shop"});

  const auto applied = apply_reload(running, fresh);
  EXPECT_EQ(applied.server.listen_port, running.server.listen_port);
  EXPECT_EQ(applied.storage.dir, running.storage.dir);
  EXPECT_EQ(applied.log.format, running.log.format);
  EXPECT_EQ(applied.sources[0].api_base, running.sources[0].api_base);
  EXPECT_EQ(applied.sources[0].webhook_verification_keys, std::vector<std::string>{"KEY-B"});
  // Reloading the same file again still says the same keys need a restart.
  EXPECT_EQ(plan_reload(applied, fresh).needs_restart.size(), 5u);
  EXPECT_TRUE(plan_reload(applied, fresh).auth_changed.empty());
}

// The keys main gained beside the seam (issues 12, 13, 16), each in its table: admin_listen
// and the collections' options need a restart, webhook_event_types is applied (check only).
TEST(ReloadPlan, AdminListenAndCollectionOptionsNeedARestartEventTypesAreApplied) {
  const auto running = two_sources();
  auto fresh = running;
  fresh.server.admin_listen_host = "127.0.0.1";
  fresh.server.admin_listen_port = 9091;
  fresh.sources[0].suppression_reconcile_interval = std::chrono::hours(6);
  fresh.sources[0].stats_trailing_days = 7;
  fresh.sources[1].stats_backfill_days = 30;
  fresh.sources[1].webhook_event_types = {"delivered", "bounce"};
  const auto plan = plan_reload(running, fresh);
  EXPECT_TRUE(has(plan.needs_restart, "server.admin_listen"));
  EXPECT_TRUE(has(plan.needs_restart, "source shop: suppression_reconcile_interval"));
  EXPECT_TRUE(has(plan.needs_restart, "source shop: stats_trailing_days"));
  EXPECT_TRUE(has(plan.needs_restart, "source crm: stats_backfill_days"));
  EXPECT_EQ(plan.needs_restart.size(), 4u) << "no \"(other keys)\" line";
  EXPECT_TRUE(plan.auth_changed.empty());

  const auto applied = apply_reload(running, fresh);
  EXPECT_EQ(applied.server.admin_listen_host, running.server.admin_listen_host);
  EXPECT_EQ(applied.sources[0].stats_trailing_days, running.sources[0].stats_trailing_days);
  EXPECT_EQ(applied.sources[1].webhook_event_types,
            (std::vector<std::string>{"delivered", "bounce"}));
}

TEST(ReloadPlan, AddedAndRemovedSourcesNeedARestart) {
  auto fresh = two_sources();
  fresh.sources.erase(fresh.sources.begin());
  source_config extra;
  extra.name = "extra";
  fresh.sources.push_back(extra);
  const auto plan = plan_reload(two_sources(), fresh);
  EXPECT_TRUE(has(plan.needs_restart, "source shop (removed)"));
  EXPECT_TRUE(has(plan.needs_restart, "source extra (added)"));
}

}  // namespace
}  // namespace sgs::config
