// The account collections' pure parts (issue 16): scopes per collection, "all", dates and
// times, the table layout, and the config keys.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "store/account_tables.hpp"
#include "sync/collections/account_sync.hpp"

using sgs::store::collection;

namespace {

TEST(AccountCollections, EveryCollectionHasANameTableAndColumnsFromIdToRaw) {
  for (auto c : sgs::sync::sync_order()) {
    const auto name = sgs::store::collection_name(c);
    EXPECT_NE(name, "?");
    EXPECT_EQ(sgs::store::collection_from_name(name), c) << name;
    const auto cols = sgs::store::columns(c);
    ASSERT_GE(cols.size(), 2u) << name;
    EXPECT_EQ(cols.front(), "id") << name;
    EXPECT_EQ(cols.back(), "raw") << name;
  }
  EXPECT_FALSE(sgs::store::collection_from_name("contacts"));
}

TEST(AccountCollections, AllMeansEveryCollectionButTheOptInMessages) {
  const auto all = sgs::sync::all_collections_but_opt_in();
  EXPECT_EQ(all.size(), 20u);
  EXPECT_EQ(all.front(), collection::lists);
  EXPECT_EQ(std::count(all.begin(), all.end(), collection::messages), 0);
}

TEST(AccountCollections, MissingScopeNamesTheScopeToAdd) {
  const std::vector<std::string> scopes = {"suppression.read", "stats.read"};
  EXPECT_EQ(sgs::sync::missing_scope(collection::bounces, scopes), "");
  EXPECT_EQ(sgs::sync::missing_scope(collection::category_stats_daily, scopes), "");
  EXPECT_EQ(sgs::sync::missing_scope(collection::templates, scopes),
            "skipped: the API key has no 'templates.read' scope: add it under Settings > API Keys "
            "to sync templates");
  EXPECT_NE(sgs::sync::missing_scope(collection::lists, scopes)
                .find("'marketing.read' or 'marketing_campaigns.read'"),
            std::string::npos);
  // The fine-grained suppression scope is enough for its own list.
  EXPECT_EQ(sgs::sync::missing_scope(collection::blocks, {"suppression.blocks.read"}), "");
  // No documented scope: never skipped in advance.
  EXPECT_EQ(sgs::sync::missing_scope(collection::verified_senders, {}), "");
}

TEST(AccountCollections, TemplateTimesWithASpaceBecomeIso) {
  EXPECT_EQ(sgs::sync::sql_time_to_iso("2020-11-12 12:00:09"), "2020-11-12T12:00:09Z");
  EXPECT_EQ(sgs::sync::sql_time_to_iso("2020-11-12T12:00:09Z"), "2020-11-12T12:00:09Z");
  EXPECT_EQ(sgs::sync::sql_time_to_iso("yesterday"), "yesterday");
}

TEST(AccountCollections, CivilDatesRoundTrip) {
  EXPECT_EQ(sgs::sync::civil_date(0), "1970-01-01");
  EXPECT_EQ(sgs::sync::civil_date(20454), "2026-01-01");
  EXPECT_EQ(sgs::sync::parse_civil_date("2024-02-29"), 19782);
  EXPECT_EQ(sgs::sync::civil_date(19782), "2024-02-29");
  EXPECT_FALSE(sgs::sync::parse_civil_date("2023-02-29"));
  EXPECT_FALSE(sgs::sync::parse_civil_date("2023-2-28"));
  EXPECT_FALSE(sgs::sync::parse_civil_date(""));
  EXPECT_EQ(sgs::sync::iso_millis(1767225600123), "2026-01-01T00:00:00.123Z");
}

TEST(AccountCollections, QueryValuesArePercentEncoded) {
  EXPECT_EQ(sgs::sync::url_encode(R"(last_event_time BETWEEN TIMESTAMP "a")"),
            "last_event_time%20BETWEEN%20TIMESTAMP%20%22a%22");
}

TEST(AccountCollections, ConfigAcceptsEveryNameAllAndTheNewKeys) {
  const auto parsed = sgs::config::parse_config(
      "[[source]]\nname = \"a\"\ncollections = [\"all\", \"messages\", \"bounces\"]\n"
      "suppression_reconcile_interval = \"12h\"\nstats_trailing_days = 5\n"
      "stats_backfill_days = 730\n",
      "test.toml");
  ASSERT_TRUE(std::holds_alternative<sgs::config::config>(parsed));
  const auto& s = std::get<sgs::config::config>(parsed).sources.at(0);
  EXPECT_EQ(s.collections, (std::vector<std::string>{"all", "messages", "bounces"}));
  EXPECT_EQ(s.suppression_reconcile_interval, std::chrono::hours(12));
  EXPECT_EQ(s.stats_trailing_days, 5);
  EXPECT_EQ(s.stats_backfill_days, 730);
  EXPECT_EQ(sgs::config::default_config().sources.at(0).collections,
            std::vector<std::string>{"all"});
}

TEST(AccountCollections, ConfigRefusesABadReconcileInterval) {
  const auto parsed = sgs::config::parse_config(
      "[[source]]\nname = \"a\"\nsuppression_reconcile_interval = \"soon\"\n", "test.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<sgs::config::config_error>>(parsed));
  EXPECT_EQ(std::get<std::vector<sgs::config::config_error>>(parsed).at(0).key_path,
            "source[0].suppression_reconcile_interval");
}

}  // namespace
