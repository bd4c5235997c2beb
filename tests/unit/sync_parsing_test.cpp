// Unit tests of the sync's parsers: streaming CSV, gunzip, contact CSV mapping, JSON pages.
#include <gtest/gtest.h>

#include "gzip.hpp"
#include "store/object_store.hpp"
#include "sync/contact_csv.hpp"
#include "sync/csv_reader.hpp"
#include "sync/gunzip.hpp"
#include "sync/json_objects.hpp"
#include "sync/json_text.hpp"

using sgs::store::collection;
using sgs::store::object_row;
namespace rc = sgs::store::recipient_col;

namespace {

using records = std::vector<std::vector<std::string>>;

// Parses `text` fed in chunks of `chunk` bytes.
records parse_csv(std::string_view text, std::size_t chunk) {
  records out;
  sgs::sync::csv_reader reader;
  auto on = [&](std::span<const std::string_view> fields) {
    out.emplace_back(fields.begin(), fields.end());
    return true;
  };
  for (std::size_t i = 0; i < text.size(); i += chunk) {
    EXPECT_TRUE(reader.feed(text.substr(i, chunk), on)) << reader.error();
  }
  EXPECT_TRUE(reader.finish(on)) << reader.error();
  return out;
}

std::string gunzip_all(std::string_view data, std::size_t chunk, bool* ok = nullptr) {
  sgs::sync::gunzip_stream gz;
  std::string out;
  auto sink = [&](std::string_view s) {
    out += s;
    return true;
  };
  bool good = true;
  for (std::size_t i = 0; i < data.size() && good; i += chunk)
    good = gz.feed(data.substr(i, chunk), sink);
  good = good && gz.finish(sink);
  if (ok) *ok = good;
  return out;
}

}  // namespace

TEST(CsvReader, QuotedFieldsHoldCommasQuotesAndNewlinesAtAnyChunkSize) {
  const std::string text =
      "\"EMAIL\",\"FIRST_NAME\",\"CONTACT_ID\"\r\n"
      "\"a@x.com\",\"Smith, \"\"Jo\"\"\",id1\r\n"
      "b@x.com,\"two\nlines\",id2\n"
      "c@x.com,,id3";  // no final newline
  const records expected = {{"EMAIL", "FIRST_NAME", "CONTACT_ID"},
                            {"a@x.com", "Smith, \"Jo\"", "id1"},
                            {"b@x.com", "two\nlines", "id2"},
                            {"c@x.com", "", "id3"}};
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 1000u})
    EXPECT_EQ(parse_csv(text, chunk), expected) << chunk;
}

TEST(CsvReader, BlankLinesAreSkippedAndEmptyFieldsKept) {
  EXPECT_EQ(parse_csv("a,b\n\n\r\n,\n", 4), (records{{"a", "b"}, {"", ""}}));
}

TEST(CsvReader, TruncatedQuotedFieldAndOverlongRecordAreErrors) {
  sgs::sync::csv_reader reader;
  auto on = [](std::span<const std::string_view>) { return true; };
  EXPECT_TRUE(reader.feed("a,\"unterminated", on));
  EXPECT_FALSE(reader.finish(on));
  EXPECT_NE(reader.error().find("ends inside a quoted field"), std::string::npos);

  sgs::sync::csv_reader small(16);
  EXPECT_FALSE(small.feed(std::string(100, 'x'), on));
  EXPECT_NE(small.error().find("longer than 16 bytes"), std::string::npos);
}

TEST(Gunzip, DecompressesInAnyChunkSizeAndConcatenatedMembers) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  for (std::size_t chunk : {1u, 13u, 4096u, 1u << 20})
    EXPECT_EQ(gunzip_all(sgs::test::gzip(text), chunk), text);
  EXPECT_EQ(gunzip_all(sgs::test::gzip("first\n") + sgs::test::gzip("second\n"), 5),
            "first\nsecond\n");
}

TEST(Gunzip, PlainDataPassesThroughAndTruncatedGzipFails) {
  EXPECT_EQ(gunzip_all("EMAIL,CONTACT_ID\n", 3), "EMAIL,CONTACT_ID\n");
  EXPECT_EQ(gunzip_all("x", 1), "x");
  const auto z = sgs::test::gzip(std::string(100000, 'a'));
  bool ok = true;
  gunzip_all(std::string_view(z).substr(0, z.size() / 2), 100, &ok);
  EXPECT_FALSE(ok);
}

TEST(JsonText, EscapesAndSplitsArrays) {
  std::string out;
  sgs::sync::append_json_string(out, "a\"b\\c\nd\x01");
  EXPECT_EQ(out, R"("a\"b\\c\nd\u0001")");
  out.clear();
  sgs::sync::append_json_string_array(out, " l1, l2 ,,");
  EXPECT_EQ(out, R"(["l1","l2"])");
  out.clear();
  sgs::sync::append_json_string_array(out, R"(["x"])");
  EXPECT_EQ(out, R"(["x"])");
}

TEST(ContactCsv, ColumnsByHeaderNameAndCustomFieldsAsJson) {
  sgs::sync::contact_csv_mapper m;
  std::string error;
  const std::vector<std::string_view> header = {
      "email", "CONTACT_ID", "FIRST_NAME", "LIST_IDS", "NUM_ORDERS", "PET", "CREATED_AT"};
  ASSERT_TRUE(m.set_header(header, error)) << error;
  object_row row(collection::recipients);
  const std::vector<std::string_view> record = {
      "a@x.com", "c-1", "Ann", "l1,l2", "7", "", "2021-02-01T12:35:22Z"};
  ASSERT_TRUE(m.map(record, row));
  EXPECT_EQ(row.text_at(rc::id), "c-1");
  EXPECT_EQ(row.text_at(rc::email), "a@x.com");
  EXPECT_EQ(row.text_at(rc::first_name), "Ann");
  EXPECT_EQ(row.text_at(rc::list_ids), R"(["l1","l2"])");
  EXPECT_EQ(row.text_at(rc::custom_fields), R"({"NUM_ORDERS":"7"})");
  EXPECT_EQ(row.text_at(rc::created_at), "2021-02-01T12:35:22Z");
  EXPECT_EQ(row.at(rc::last_name).t, object_row::cell::type::null);
  EXPECT_EQ(
      row.text_at(rc::raw),
      R"({"EMAIL":"a@x.com","CONTACT_ID":"c-1","FIRST_NAME":"Ann","LIST_IDS":"l1,l2","NUM_ORDERS":"7","CREATED_AT":"2021-02-01T12:35:22Z"})");
  // A record without an id is skipped; a short record fills what it has.
  EXPECT_FALSE(m.map(std::vector<std::string_view>{"b@x.com", ""}, row));
  EXPECT_TRUE(m.map(std::vector<std::string_view>{"b@x.com", "c-2"}, row));
  EXPECT_EQ(row.text_at(rc::custom_fields), "{}");
}

TEST(ContactCsv, HeaderWithoutContactIdIsRefused) {
  sgs::sync::contact_csv_mapper m;
  std::string error;
  EXPECT_FALSE(m.set_header(std::vector<std::string_view>{"EMAIL", "FIRST_NAME"}, error));
  EXPECT_NE(error.find("no CONTACT_ID column"), std::string::npos);
}

TEST(JsonObjects, MarketingListsPageGivesRowsAndNextLink) {
  sgs::sync::json_objects j;
  object_row row(collection::lists);
  std::vector<std::string> ids, raws;
  const auto p = j.parse_page(
      collection::lists, sgs::sync::api_kind::marketing,
      R"({"result":[{"id":"ca7a3796","name":"list-name","contact_count":3,"_metadata":{"self":"x"}},{"name":"no id"}],
          "_metadata":{"self":"s","next":"https://api.sendgrid.com/v3/marketing/lists?page_size=1&page_token=t","count":2}})",
      row, [&](const object_row& r) {
        ids.emplace_back(r.text_at(sgs::store::list_col::id));
        raws.emplace_back(r.text_at(sgs::store::list_col::raw));
        EXPECT_EQ(r.at(sgs::store::list_col::contact_count).i, 3);
      });
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.items, 1);
  EXPECT_EQ(p.skipped, 1);
  EXPECT_EQ(p.next, "https://api.sendgrid.com/v3/marketing/lists?page_size=1&page_token=t");
  EXPECT_EQ(ids, std::vector<std::string>{"ca7a3796"});
  EXPECT_EQ(raws[0],
            R"({"id":"ca7a3796","name":"list-name","contact_count":3,"_metadata":{"self":"x"}})");
}

TEST(JsonObjects, LegacyIntegerIdsAndCustomFieldArrays) {
  sgs::sync::json_objects j;
  object_row row(collection::recipients);
  std::string custom, id, created;
  const auto p = j.parse_page(
      collection::recipients, sgs::sync::api_kind::legacy,
      R"({"recipients":[{"created_at":1422313607,"email":"jones@example.com","first_name":null,"id":"YUBh","last_clicked":null,"last_name":"Jones","updated_at":1422313790,"custom_fields":[{"id":23,"name":"pet","value":"Fluffy","type":"text"}]}]})",
      row, [&](const object_row& r) {
        custom = r.text_at(rc::custom_fields);
        id = r.text_at(rc::id);
        created = r.text_at(rc::created_at);
        EXPECT_EQ(r.at(rc::first_name).t, object_row::cell::type::null);
      });
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(id, "YUBh");
  EXPECT_EQ(custom, R"({"pet":"Fluffy"})");
  EXPECT_EQ(created, "1422313607");

  object_row list(collection::lists);
  std::string list_id;
  ASSERT_TRUE(
      j.parse_page(collection::lists, sgs::sync::api_kind::legacy,
                   R"({"lists":[{"id":1,"name":"the jones","recipient_count":1}]})", list,
                   [&](const object_row& r) { list_id = r.text_at(sgs::store::list_col::id); })
          .ok);
  EXPECT_EQ(list_id, "1");
}

TEST(JsonObjects, MalformedBodiesAreErrorsNotCrashes) {
  sgs::sync::json_objects j;
  object_row row(collection::lists);
  auto none = [](const object_row&) { FAIL(); };
  EXPECT_FALSE(
      j.parse_page(collection::lists, sgs::sync::api_kind::marketing, "{\"result\":[", row, none)
          .ok);
  EXPECT_FALSE(j.parse_page(collection::lists, sgs::sync::api_kind::marketing, R"({"results":[]})",
                            row, none)
                   .ok);
  EXPECT_FALSE(j.parse_export("not json").ok);
}

TEST(JsonObjects, NdjsonContactLine) {
  sgs::sync::json_objects j;
  object_row row(collection::recipients);
  bool has_id = false;
  std::string error;
  ASSERT_TRUE(j.parse_contact_line(
      R"({"contact_id":"c9","email":"z@x.com","list_ids":["l1"],"custom_fields":{"num":3},"EXTRA":"e"})",
      row, has_id, error));
  EXPECT_TRUE(has_id);
  EXPECT_EQ(row.text_at(rc::id), "c9");
  EXPECT_EQ(row.text_at(rc::list_ids), R"(["l1"])");
  EXPECT_EQ(row.text_at(rc::custom_fields), R"({"num":3,"EXTRA":"e"})");
  EXPECT_FALSE(j.parse_contact_line("[1]", row, has_id, error));
}
