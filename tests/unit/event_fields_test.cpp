// The one table of wire fields (events/event_fields.hpp): parsing reads every key of it into
// its member, and it agrees with the event columns (store/event_columns.hpp).
#include "events/event_fields.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "events/parse.hpp"
#include "store/event_columns.hpp"

namespace sgs::events {
namespace {

// `[{"event":"processed","email":"a@example.com", <extra>}]`, parsed: its one event is
// `.events.front()` (views into the batch: keep the batch while reading them).
parsed_batch parse_one(const std::string& extra) {
  const std::string body = R"([{"event":"processed","email":"a@example.com",)" + extra + "}]";
  auto result = parse_batch(body);
  if (auto* error = std::get_if<batch_error>(&result)) {
    ADD_FAILURE() << error->message << " for " << body;
    return {};
  }
  auto& batch = std::get<parsed_batch>(result);
  if (batch.events.size() != 1) {
    ADD_FAILURE() << "no event for " << body
                  << (batch.rejected.empty() ? "" : ": " + batch.rejected.front().reason);
    batch.events.emplace_back();  // so that callers can read the (empty) event
  }
  return std::move(batch);
}

std::string reason_of(const std::string& extra) {
  auto result = parse_batch(R"([{"event":"processed","email":"a@example.com",)" + extra + "}]");
  auto* batch = std::get_if<parsed_batch>(&result);
  if (batch == nullptr || batch->rejected.size() != 1) return "(not rejected)";
  return batch->rejected.front().reason;
}

bool is_text(field_kind k) { return k == field_kind::text || k == field_kind::trimmed_text; }
bool is_integer(field_kind k) {
  return k == field_kind::integer || k == field_kind::timestamp || k == field_kind::flag;
}

TEST(EventFields, EveryTextKeyIsReadIntoItsMember) {
  int checked = 0;
  for (const wire_field& w : wire_fields) {
    if (!is_text(w.kind)) continue;
    // A value with an escape is unescaped into the parser's buffer, so it reaches the event
    // only through the arena (text_members): a member missing there would dangle (ASan).
    const std::string key = "\"" + std::string(w.name) + "\"";
    const auto body =
        R"([{"event":"processed","email":"a@example.com",)" + key + R"(:"v\u0041lue"}])";
    auto result = parse_batch(body);
    auto& batch = std::get<parsed_batch>(result);
    ASSERT_EQ(batch.events.size(), 1u) << w.name;
    const auto& got = batch.events.front().*w.text;
    ASSERT_TRUE(got.has_value()) << w.name;
    EXPECT_EQ(*got, "vAlue") << w.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(EventFields, EveryIntegerKeyIsReadIntoItsMemberAlsoFromANumericString) {
  for (const wire_field& w : wire_fields) {
    if (!is_integer(w.kind)) continue;
    const std::string key = "\"" + std::string(w.name) + "\"";
    EXPECT_EQ(parse_one(key + ":7").events.front().*w.integer, 7) << w.name;
    EXPECT_EQ(parse_one(key + ":\"8\"").events.front().*w.integer, 8) << w.name;
    EXPECT_FALSE((parse_one(key + ":null").events.front().*w.integer).has_value()) << w.name;
  }
}

TEST(EventFields, EveryObjectKeyReadsItsMembersAndNamesThemInReasons) {
  int objects = 0;
  for (const wire_field& w : wire_fields) {
    if (w.kind != field_kind::object) continue;
    ++objects;
    const std::string key = "\"" + std::string(w.name) + "\"";
    std::string members;
    for (const member_field& m : w.members) {
      if (!members.empty()) members += ",";
      members += "\"" + std::string(m.name) + "\":" + (m.kind == field_kind::text ? "\"t\"" : "5");
    }
    // Unknown members are checked and skipped, in any position.
    const auto batch = parse_one(key + ":{\"future\":[1]," + members + "}");
    const event& e = batch.events.front();
    for (const member_field& m : w.members) {
      if (m.kind == field_kind::text) {
        EXPECT_EQ(e.*m.text, "t") << m.path;
      } else {
        EXPECT_EQ(e.*m.integer, 5) << m.path;
      }
      // A member of the wrong type rejects the element, naming the member's path.
      const std::string wrong = m.kind == field_kind::text ? "1" : "[]";
      EXPECT_EQ(
          reason_of(key + ":{\"" + std::string(m.name) + "\":" + wrong + "}"),
          "element 0: `" + std::string(m.path) + "` must be " +
              (m.kind == field_kind::text ? "a string (got number)" : "an integer (got array)"));
    }
    // A later duplicate key replaces every member, read or not.
    const auto replaced_batch = parse_one(key + ":{" + members + "}," + key + ":{}");
    const event& replaced = replaced_batch.events.front();
    for (const member_field& m : w.members) {
      if (m.kind == field_kind::text) {
        EXPECT_FALSE((replaced.*m.text).has_value()) << m.path;
      } else {
        EXPECT_FALSE((replaced.*m.integer).has_value()) << m.path;
      }
    }
    if (w.bare_integer != nullptr) {
      EXPECT_EQ(parse_one(key + ":9").events.front().*w.bare_integer, 9) << w.name;
    } else {
      EXPECT_EQ(reason_of(key + ":9"), "element 0: `" + std::string(w.name) + "` " +
                                           std::string(w.expected) + " (got number)");
    }
  }
  EXPECT_EQ(objects, 2);
}

// The members the wire table fills and the members the columns store are the same set, so a
// field added to one table and not the other fails here.
TEST(EventFields, AgreeWithTheEventColumns) {
  using store::event_columns;
  const auto column_of_text = [](text_member m) {
    for (const auto& c : event_columns) {
      if (auto* p = std::get_if<text_member>(&c.field); p != nullptr && *p == m) return true;
    }
    return false;
  };
  const auto column_of_integer = [](integer_member m) {
    for (const auto& c : event_columns) {
      if (auto* p = std::get_if<integer_member>(&c.field); p != nullptr && *p == m) return true;
    }
    return false;
  };
  std::size_t text = 0, integer = 0;
  for (const wire_field& w : wire_fields) {
    if (is_text(w.kind)) {
      EXPECT_TRUE(column_of_text(w.text)) << w.name;
      ++text;
    }
    if (is_integer(w.kind)) {
      EXPECT_TRUE(column_of_integer(w.integer)) << w.name;
      ++integer;
    }
    for (const member_field& m : w.members) {
      if (m.kind == field_kind::text) {
        EXPECT_TRUE(column_of_text(m.text)) << m.path;
        ++text;
      } else {
        EXPECT_TRUE(column_of_integer(m.integer)) << m.path;
        ++integer;
      }
    }
  }
  std::size_t text_columns = 0, integer_columns = 0;
  for (const auto& c : event_columns) {
    text_columns += std::holds_alternative<text_member>(c.field) ? 1 : 0;
    integer_columns += std::holds_alternative<integer_member>(c.field) ? 1 : 0;
  }
  EXPECT_EQ(text, text_columns);
  EXPECT_EQ(integer, integer_columns);
  // The arena move visits every text column's member.
  EXPECT_EQ(text_members.size(), text_columns);
}

}  // namespace
}  // namespace sgs::events
