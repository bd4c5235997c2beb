// Unit tests for lib/metrics: the sync's counters and their Prometheus text.
#include "metrics/sync_metrics.hpp"

#include <gtest/gtest.h>

namespace sgs::metrics {
namespace {

sync_run_report run(std::string collection, std::string result, std::int64_t upserted,
                    std::int64_t finished) {
  sync_run_report r;
  r.source = "crm";
  r.collection = std::move(collection);
  r.result = std::move(result);
  r.rows_upserted = upserted;
  r.rows_tombstoned = 1;
  r.http_retries = 2;
  r.rate_limit_waits = 1;
  r.rate_limit_wait_seconds = 1.5;
  r.finished_unix = finished;
  r.finished_at = "at-" + std::to_string(finished);
  return r;
}

bool contains(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(SyncMetrics, CountsRunsByResultAndSumsRowsRetriesAndWaits) {
  sync_metrics m;
  m.run_finished(run("lists", "succeeded", 10, 1000));
  m.run_finished(run("lists", "failed", 5, 2000));
  m.run_finished(run("lists", "succeeded", 1, 3000));
  const auto text = m.prometheus_text();
  const std::string l = R"(source="crm",collection="lists")";
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_runs_total{" + l + R"(,result="succeeded"} 2)"))
      << text;
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_runs_total{" + l + R"(,result="failed"} 1)"));
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_rows_upserted_total{" + l + "} 16"));
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_rows_tombstoned_total{" + l + "} 3"));
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_http_retries_total{" + l + "} 6"));
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_rate_limit_waits_total{" + l + "} 3"));
  EXPECT_TRUE(contains(text, "sendgrid_source_sync_rate_limit_wait_seconds_total{" + l + "} 4.5"));
  EXPECT_TRUE(
      contains(text, "sendgrid_source_sync_last_success_timestamp_seconds{" + l + "} 3000"));
  EXPECT_NE(text.find("# TYPE sendgrid_source_sync_last_success_timestamp_seconds gauge"),
            std::string::npos);

  const auto state = m.collections_of("crm").at("lists");
  EXPECT_EQ(state.last_result, "succeeded");
  EXPECT_EQ(state.last_success_at, "at-3000");
  EXPECT_TRUE(m.collections_of("other").empty());
}

TEST(SyncMetrics, AFailedRunKeepsTheLastSuccessAndAKnownOlderSuccessDoesNotOverrideIt) {
  sync_metrics m;
  m.last_success_known("crm", "recipients", 500, "at-500");
  EXPECT_EQ(m.collections_of("crm").at("recipients").last_success_at, "at-500");
  EXPECT_EQ(m.collections_of("crm").at("recipients").last_result, "");
  m.run_finished(run("recipients", "succeeded", 1, 900));
  m.last_success_known("crm", "recipients", 500, "at-500");
  m.run_finished(run("recipients", "failed", 0, 1200));
  const auto state = m.collections_of("crm").at("recipients");
  EXPECT_EQ(state.last_result, "failed");
  EXPECT_EQ(state.last_finished_at, "at-1200");
  EXPECT_EQ(state.last_success_unix, 900);
}

TEST(SyncMetrics, NoLastSuccessSampleForACollectionThatNeverSucceeded) {
  sync_metrics m;
  m.run_finished(run("segments", "failed", 0, 100));
  EXPECT_EQ(m.prometheus_text().find("sendgrid_source_sync_last_success_timestamp_seconds{"),
            std::string::npos);
}

TEST(SyncMetrics, ShowsEachSourcesSyncIntervalForStalenessAlerts) {
  sync_metrics m;
  EXPECT_EQ(m.prometheus_text().find("sendgrid_source_sync_interval_seconds{"), std::string::npos);
  m.sync_interval("crm", 10800);
  m.sync_interval("shop", 60);
  m.sync_interval("shop", 3600);  // set again: the last value counts
  const auto text = m.prometheus_text();
  EXPECT_TRUE(contains(text, R"(sendgrid_source_sync_interval_seconds{source="crm"} 10800)"))
      << text;
  EXPECT_TRUE(contains(text, R"(sendgrid_source_sync_interval_seconds{source="shop"} 3600)"));
  EXPECT_NE(text.find("# TYPE sendgrid_source_sync_interval_seconds gauge"), std::string::npos);
}

}  // namespace
}  // namespace sgs::metrics
