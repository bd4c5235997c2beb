// The collections' columns and rows, backend-neutral: the names and column lists of the object
// tables, run statuses, and object_row (what the sync stages).
#include "store/account_tables.hpp"
#include "store/object_store.hpp"

namespace sgs::store {

namespace {

constexpr std::string_view list_columns[] = {"id", "name", "contact_count", "raw"};
constexpr std::string_view segment_columns[] = {"id",
                                                "name",
                                                "contacts_count",
                                                "parent_list_ids",
                                                "query_version",
                                                "query_validation",
                                                "conditions",
                                                "created_at",
                                                "updated_at",
                                                "sample_updated_at",
                                                "next_sample_update",
                                                "raw"};
constexpr std::string_view campaign_columns[] = {"id",
                                                 "name",
                                                 "status",
                                                 "categories",
                                                 "send_at",
                                                 "is_abtest",
                                                 "abtest",
                                                 "subject",
                                                 "sender_id",
                                                 "list_ids",
                                                 "segment_ids",
                                                 "suppression_group_id",
                                                 "custom_unsubscribe_url",
                                                 "ip_pool",
                                                 "editor",
                                                 "created_at",
                                                 "updated_at",
                                                 "raw"};
constexpr std::string_view recipient_columns[] = {"id",
                                                  "email",
                                                  "first_name",
                                                  "last_name",
                                                  "unique_name",
                                                  "phone_number_id",
                                                  "external_id",
                                                  "anonymous_id",
                                                  "alternate_emails",
                                                  "address_line_1",
                                                  "address_line_2",
                                                  "city",
                                                  "state_province_region",
                                                  "country",
                                                  "postal_code",
                                                  "phone_number",
                                                  "whatsapp",
                                                  "line",
                                                  "facebook",
                                                  "list_ids",
                                                  "segment_ids",
                                                  "custom_fields",
                                                  "created_at",
                                                  "updated_at",
                                                  "last_clicked",
                                                  "last_emailed",
                                                  "last_opened",
                                                  "raw"};

static_assert(std::size(list_columns) == list_col::count);
static_assert(std::size(segment_columns) == segment_col::count);
static_assert(std::size(campaign_columns) == campaign_col::count);
static_assert(std::size(recipient_columns) == recipient_col::count);

}  // namespace

std::string_view collection_name(collection c) {
  switch (c) {
    case collection::lists:
      return "lists";
    case collection::segments:
      return "segments";
    case collection::campaigns:
      return "campaigns";
    case collection::recipients:
      return "recipients";
    default:
      return account_table_name(c);
  }
}

std::optional<collection> collection_from_name(std::string_view name) {
  for (auto c : all_collections) {
    if (collection_name(c) == name) return c;
  }
  for (auto c : account_collections) {
    if (collection_name(c) == name) return c;
  }
  return std::nullopt;
}

std::span<const std::string_view> columns(collection c) {
  switch (c) {
    case collection::lists:
      return list_columns;
    case collection::segments:
      return segment_columns;
    case collection::campaigns:
      return campaign_columns;
    case collection::recipients:
      return recipient_columns;
    default:
      return account_column_names(c);
  }
}

std::string_view run_status_name(run_status s) {
  switch (s) {
    case run_status::running:
      return "running";
    case run_status::succeeded:
      return "succeeded";
    case run_status::failed:
      return "failed";
    case run_status::stopped:
      return "stopped";
    case run_status::skipped:
      return "skipped";
  }
  return "?";
}

object_row::object_row(collection c)
    : kind_(c), cells_(columns(c).size()), owned_(columns(c).size()) {}

void object_row::clear() {
  for (auto& c : cells_) c = cell{};
}

void object_row::text(int col, std::string_view v) {
  auto& c = cells_[static_cast<std::size_t>(col)];
  c.t = cell::type::text;
  c.s = v;
}

void object_row::integer(int col, std::int64_t v) {
  auto& c = cells_[static_cast<std::size_t>(col)];
  c.t = cell::type::integer;
  c.i = v;
}

std::string& object_row::owned(int col) {
  auto& c = cells_[static_cast<std::size_t>(col)];
  c.t = cell::type::owned;
  auto& buffer = owned_[static_cast<std::size_t>(col)];
  buffer.clear();
  return buffer;
}

std::string_view object_row::text_at(int col) const {
  const auto& c = cells_[static_cast<std::size_t>(col)];
  if (c.t == cell::type::text) return c.s;
  if (c.t == cell::type::owned) return owned_[static_cast<std::size_t>(col)];
  return {};
}

}  // namespace sgs::store
