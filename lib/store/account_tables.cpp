// Column layout of the account collections' tables (backend-neutral; the SQLite sync_state and
// last_status are in object_store.cpp).
#include "store/account_tables.hpp"

#include <algorithm>
#include <map>
#include <vector>

namespace sgs::store {

namespace {

using S = column_source;

constexpr account_column id_col{"id", "", S::computed};
constexpr account_column raw_col{"raw", "", S::computed};

constexpr account_column bounce_cols[] = {id_col,
                                          {"email", "email", S::text},
                                          {"created", "created", S::integer},
                                          {"reason", "reason", S::text},
                                          {"status", "status", S::text},
                                          raw_col};
constexpr account_column spam_cols[] = {id_col,
                                        {"email", "email", S::text},
                                        {"created", "created", S::integer},
                                        {"ip", "ip", S::text},
                                        raw_col};
constexpr account_column invalid_cols[] = {id_col,
                                           {"email", "email", S::text},
                                           {"created", "created", S::integer},
                                           {"reason", "reason", S::text},
                                           raw_col};
constexpr account_column unsub_cols[] = {
    id_col, {"email", "email", S::text}, {"created", "created", S::integer}, raw_col};
constexpr account_column group_cols[] = {id_col,
                                         {"name", "name", S::text},
                                         {"description", "description", S::text},
                                         {"is_default", "is_default", S::integer},
                                         {"unsubscribes", "unsubscribes", S::integer},
                                         {"last_email_sent_at", "last_email_sent_at", S::text},
                                         raw_col};
constexpr account_column group_member_cols[] = {
    id_col, {"group_id", "", S::computed}, {"email", "", S::computed}, raw_col};
constexpr account_column template_cols[] = {id_col,
                                            {"name", "name", S::text},
                                            {"generation", "generation", S::text},
                                            {"updated_at", "updated_at", S::sql_time},
                                            {"version_count", "", S::computed},
                                            raw_col};
constexpr account_column version_cols[] = {
    id_col,
    {"template_id", "template_id", S::text},
    {"name", "name", S::text},
    {"subject", "subject", S::text},
    {"active", "active", S::integer},
    {"editor", "editor", S::text},
    {"generate_plain_content", "generate_plain_content", S::integer},
    {"updated_at", "updated_at", S::sql_time},
    {"thumbnail_url", "thumbnail_url", S::text},
    {"html_content", "html_content", S::text},
    {"plain_content", "plain_content", S::text},
    raw_col};
constexpr account_column sender_cols[] = {id_col,
                                          {"nickname", "nickname", S::text},
                                          {"from_email", "from.email", S::text},
                                          {"from_name", "from.name", S::text},
                                          {"reply_to_email", "reply_to.email", S::text},
                                          {"reply_to_name", "reply_to.name", S::text},
                                          {"address", "address", S::text},
                                          {"address_2", "address_2", S::text},
                                          {"city", "city", S::text},
                                          {"state", "state", S::text},
                                          {"zip", "zip", S::text},
                                          {"country", "country", S::text},
                                          {"verified_status", "verified.status", S::integer},
                                          {"verified_reason", "verified.reason", S::text},
                                          {"locked", "locked", S::integer},
                                          {"created_at", "created_at", S::text},
                                          {"updated_at", "updated_at", S::text},
                                          raw_col};
constexpr account_column verified_sender_cols[] = {id_col,
                                                   {"nickname", "nickname", S::text},
                                                   {"from_email", "from_email", S::text},
                                                   {"from_name", "from_name", S::text},
                                                   {"reply_to", "reply_to", S::text},
                                                   {"reply_to_name", "reply_to_name", S::text},
                                                   {"address", "address", S::text},
                                                   {"address2", "address2", S::text},
                                                   {"city", "city", S::text},
                                                   {"state", "state", S::text},
                                                   {"zip", "zip", S::text},
                                                   {"country", "country", S::text},
                                                   {"verified", "verified", S::integer},
                                                   {"locked", "locked", S::integer},
                                                   raw_col};
constexpr account_column field_cols[] = {id_col,
                                         {"name", "name", S::text},
                                         {"field_type", "field_type", S::text},
                                         {"read_only", "read_only", S::integer},
                                         {"reserved", "", S::computed},
                                         raw_col};

// /v3/stats metrics, under stats[0].metrics of each day.
#define SGS_GLOBAL_METRICS                                                              \
  {"blocks", "blocks", S::integer}, {"bounce_drops", "bounce_drops", S::integer},       \
      {"bounces", "bounces", S::integer}, {"clicks", "clicks", S::integer},             \
      {"deferred", "deferred", S::integer}, {"delivered", "delivered", S::integer},     \
      {"invalid_emails", "invalid_emails", S::integer}, {"opens", "opens", S::integer}, \
      {"processed", "processed", S::integer}, {"requests", "requests", S::integer},     \
      {"spam_report_drops", "spam_report_drops", S::integer},                           \
      {"spam_reports", "spam_reports", S::integer},                                     \
      {"unique_clicks", "unique_clicks", S::integer},                                   \
      {"unique_opens", "unique_opens", S::integer},                                     \
      {"unsubscribe_drops", "unsubscribe_drops", S::integer}, {                         \
    "unsubscribes", "unsubscribes", S::integer                                          \
  }
// Marketing stats, under stats of each result.
#define SGS_MARKETING_METRICS                                                           \
  {"bounce_drops", "bounce_drops", S::integer}, {"bounces", "bounces", S::integer},     \
      {"clicks", "clicks", S::integer}, {"delivered", "delivered", S::integer},         \
      {"invalid_emails", "invalid_emails", S::integer}, {"opens", "opens", S::integer}, \
      {"requests", "requests", S::integer},                                             \
      {"spam_report_drops", "spam_report_drops", S::integer},                           \
      {"spam_reports", "spam_reports", S::integer},                                     \
      {"unique_clicks", "unique_clicks", S::integer},                                   \
      {"unique_opens", "unique_opens", S::integer}, {                                   \
    "unsubscribes", "unsubscribes", S::integer                                          \
  }

constexpr account_column stats_cols[] = {
    id_col, {"date", "", S::computed}, SGS_GLOBAL_METRICS, raw_col};
constexpr account_column category_stats_cols[] = {
    id_col, {"category", "", S::computed}, {"date", "", S::computed}, SGS_GLOBAL_METRICS, raw_col};
constexpr account_column singlesend_stats_cols[] = {id_col,
                                                    {"singlesend_id", "id", S::text},
                                                    {"ab_variation", "ab_variation", S::text},
                                                    {"ab_phase", "ab_phase", S::text},
                                                    {"aggregation", "aggregation", S::text},
                                                    {"date", "", S::computed},
                                                    SGS_MARKETING_METRICS,
                                                    raw_col};
constexpr account_column automation_stats_cols[] = {id_col,
                                                    {"automation_id", "id", S::text},
                                                    {"step_id", "step_id", S::text},
                                                    {"aggregation", "aggregation", S::text},
                                                    {"date", "", S::computed},
                                                    SGS_MARKETING_METRICS,
                                                    raw_col};
#undef SGS_GLOBAL_METRICS
#undef SGS_MARKETING_METRICS
constexpr account_column message_cols[] = {id_col,
                                           {"from_email", "from_email", S::text},
                                           {"to_email", "to_email", S::text},
                                           {"subject", "subject", S::text},
                                           {"status", "status", S::text},
                                           {"opens_count", "opens_count", S::integer},
                                           {"clicks_count", "clicks_count", S::integer},
                                           {"last_event_time", "last_event_time", S::text},
                                           {"template_id", "template_id", S::text},
                                           raw_col};

struct names_cache {
  std::map<collection, std::vector<std::string_view>> by_collection;
  names_cache() {
    for (auto c : account_collections) {
      auto& v = by_collection[c];
      for (const auto& col : account_columns(c)) v.push_back(col.name);
    }
  }
};

}  // namespace

bool is_account_collection(collection c) {
  return std::find(account_collections.begin(), account_collections.end(), c) !=
         account_collections.end();
}

std::span<const account_column> account_columns(collection c) {
  switch (c) {
    case collection::bounces:
    case collection::blocks:
      return bounce_cols;
    case collection::spam_reports:
      return spam_cols;
    case collection::invalid_emails:
      return invalid_cols;
    case collection::global_unsubscribes:
      return unsub_cols;
    case collection::unsubscribe_groups:
      return group_cols;
    case collection::group_suppressions:
      return group_member_cols;
    case collection::templates:
      return template_cols;
    case collection::template_versions:
      return version_cols;
    case collection::senders:
      return sender_cols;
    case collection::verified_senders:
      return verified_sender_cols;
    case collection::field_definitions:
      return field_cols;
    case collection::stats_daily:
      return stats_cols;
    case collection::category_stats_daily:
      return category_stats_cols;
    case collection::singlesend_stats:
      return singlesend_stats_cols;
    case collection::automation_stats:
      return automation_stats_cols;
    case collection::messages:
      return message_cols;
    default:
      return {};
  }
}

std::span<const std::string_view> account_column_names(collection c) {
  static const names_cache cache;
  auto it = cache.by_collection.find(c);
  if (it == cache.by_collection.end()) return {};
  return it->second;
}

int account_column_index(collection c, std::string_view name) {
  const auto cols = account_columns(c);
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string_view account_table_name(collection c) {
  switch (c) {
    case collection::bounces:
      return "bounces";
    case collection::blocks:
      return "blocks";
    case collection::spam_reports:
      return "spam_reports";
    case collection::invalid_emails:
      return "invalid_emails";
    case collection::global_unsubscribes:
      return "global_unsubscribes";
    case collection::unsubscribe_groups:
      return "unsubscribe_groups";
    case collection::group_suppressions:
      return "group_suppressions";
    case collection::templates:
      return "templates";
    case collection::template_versions:
      return "template_versions";
    case collection::senders:
      return "senders";
    case collection::verified_senders:
      return "verified_senders";
    case collection::field_definitions:
      return "field_definitions";
    case collection::stats_daily:
      return "stats_daily";
    case collection::category_stats_daily:
      return "category_stats_daily";
    case collection::singlesend_stats:
      return "singlesend_stats";
    case collection::automation_stats:
      return "automation_stats";
    case collection::messages:
      return "messages";
    default:
      return "?";
  }
}

}  // namespace sgs::store
