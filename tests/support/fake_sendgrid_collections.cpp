// The fake SendGrid's account collections (issue 16), with SendGrid's documented quirks:
// bare arrays, Accept: application/json required on bounces, limit/offset and lastSeenID
// paging, "YYYY-MM-DD HH:MM:SS" template times (in the data the tests give), 403 per scope,
// the Email Activity API's 1000-row cap without a cursor.
#include <simdjson.h>

#include <algorithm>

#include "fake_sendgrid.hpp"

namespace sgs::test {

namespace {

fake_response answer(int status, std::string body) {
  fake_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

fake_response forbidden() { return answer(403, std::string(sendgrid_403_body)); }

long long num_or(const std::string& text, long long fallback) {
  if (text.empty()) return fallback;
  try {
    return std::stoll(text);
  } catch (...) {
    return fallback;
  }
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

long long int_field(const std::string& json, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::int64_t v = 0;
  if (p.parse(json).get(doc) != simdjson::SUCCESS) return 0;
  if (doc[key].get_int64().get(v) != simdjson::SUCCESS) return 0;
  return v;
}

std::string string_field(const std::string& json, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::string_view v;
  if (p.parse(json).get(doc) != simdjson::SUCCESS) return {};
  if (doc[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

}  // namespace

fake_response fake_sendgrid::serve_collections(const fake_request& req, bool& handled) {
  auto& a = account_;
  handled = true;
  const std::string& p = req.path;
  auto allowed = [&](std::initializer_list<const char*> any) {
    for (const char* s : any)
      if (std::find(a.scopes.begin(), a.scopes.end(), s) != a.scopes.end()) return true;
    return false;
  };
  if (req.method != "GET") {
    handled = false;
    return {};
  }

  // Suppression lists: bare arrays, limit (1..500) / offset, start_time/end_time on created.
  const std::pair<const char*, std::vector<std::string>*> suppressions[] = {
      {"/v3/suppression/bounces", &a.bounces},
      {"/v3/suppression/blocks", &a.blocks},
      {"/v3/suppression/spam_reports", &a.spam_reports},
      {"/v3/suppression/invalid_emails", &a.invalid_emails},
      {"/v3/suppression/unsubscribes", &a.global_unsubscribes}};
  for (const auto& [path, items] : suppressions) {
    if (p != path) continue;
    if (!allowed({"suppression.read"})) return forbidden();
    if (p == "/v3/suppression/bounces") {
      auto accept = req.headers.find("accept");
      if (accept == req.headers.end() ||
          accept->second.find("application/json") == std::string::npos)
        return answer(
            406,
            R"({"errors":[{"field":null,"message":"Accept header must be application/json"}]})");
    }
    const long long limit = num_or(req.query("limit"), 500);
    if (limit < 1 || limit > 500)
      return answer(400, R"({"errors":[{"field":"limit","message":"limit must be 1..500"}]})");
    const long long offset = num_or(req.query("offset"), 0);
    const long long start = num_or(req.query("start_time"), 0);
    const long long end = num_or(req.query("end_time"), 1LL << 62);
    std::vector<std::string> matching;
    for (const auto& item : *items) {
      const long long created = int_field(item, "created");
      if (created >= start && created <= end) matching.push_back(item);
    }
    std::vector<std::string> page;
    for (long long i = offset; i < offset + limit && i < static_cast<long long>(matching.size());
         ++i)
      page.push_back(matching[static_cast<std::size_t>(i)]);
    return answer(200, join(page));
  }

  if (p.rfind("/v3/asm/groups/", 0) == 0 && p.size() > 15 &&
      p.find("/suppressions") != std::string::npos) {
    if (!allowed({"asm.groups.read"})) return forbidden();
    const long long id = num_or(p.substr(15, p.find('/', 15) - 15), -1);
    auto it = a.group_members.find(id);
    std::vector<std::string> quoted;
    if (it != a.group_members.end())
      for (const auto& e : it->second) quoted.push_back("\"" + e + "\"");
    return answer(200, join(quoted));
  }

  // Templates: page_size required (1..200), page_token, _metadata.next as a full URL.
  if (p == "/v3/templates") {
    if (!allowed({"templates.read"})) return forbidden();
    const long long size = num_or(req.query("page_size"), 0);
    if (size < 1 || size > 200)
      return answer(
          400, R"({"errors":[{"field":"page_size","message":"page_size is required, 1 to 200"}]})");
    const long long from = num_or(req.query("page_token"), 0);
    std::vector<std::string> page;
    for (long long i = from; i < from + size && i < static_cast<long long>(a.templates.size()); ++i)
      page.push_back(a.templates[static_cast<std::size_t>(i)]);
    std::string body =
        R"({"result":)" + join(page) + R"(,"_metadata":{"self":")" + base_url() + req.target + "\"";
    if (from + size < static_cast<long long>(a.templates.size())) {
      body += R"(,"next":")" + base_url() +
              "/v3/templates?generations=legacy,dynamic&page_size=" + std::to_string(size) +
              "&page_token=" + std::to_string(from + size) + "\"";
    }
    return answer(200, body + R"(,"count":)" + std::to_string(a.templates.size()) + "}}");
  }

  if (p == "/v3/marketing/senders") {
    if (a.legacy || !allowed({"marketing.read"})) return forbidden();
    return answer(200, join(a.marketing_senders));
  }

  // lastSeenID paging: the items after the one with that id.
  if (p == "/v3/verified_senders" && !a.verified_senders.empty()) {
    if (a.senders_forbidden) return forbidden();
    const long long limit = num_or(req.query("limit"), 25);
    const std::string last = req.query("lastSeenID");
    std::size_t from = 0;
    if (!last.empty()) {
      for (std::size_t i = 0; i < a.verified_senders.size(); ++i) {
        if (std::to_string(int_field(a.verified_senders[i], "id")) == last) from = i + 1;
      }
    }
    std::vector<std::string> page;
    for (std::size_t i = from;
         i < a.verified_senders.size() && static_cast<long long>(page.size()) < limit; ++i)
      page.push_back(a.verified_senders[i]);
    return answer(200, R"({"results":)" + join(page) + "}");
  }

  if (p == "/v3/marketing/field_definitions") {
    if (a.legacy || !allowed({"marketing.read"})) return forbidden();
    if (a.field_definitions.empty()) return answer(404, R"({"errors":[{"message":"not found"}]})");
    return answer(200, a.field_definitions);
  }

  // /v3/stats: a bare array of the days of the range the account has.
  if (p == "/v3/stats") {
    if (!allowed({"stats.read", "stats.global.read"})) return forbidden();
    const std::string start = req.query("start_date");
    const std::string end = req.query("end_date");
    if (start.empty())
      return answer(400, R"({"errors":[{"field":"start_date","message":"is required"}]})");
    std::vector<std::string> days;
    for (const auto& [date, metrics] : a.stats_days) {
      if (date < start || (!end.empty() && date > end)) continue;
      days.push_back(R"({"date":")" + date + R"(","stats":[{"metrics":)" + metrics + "}]}");
    }
    return answer(200, join(days));
  }

  if (p == "/v3/categories/stats/sums") {
    if (!allowed({"categories.stats.read", "stats.read"})) return forbidden();
    const std::string start = req.query("start_date");
    const long long limit = num_or(req.query("limit"), 5);
    const long long offset = num_or(req.query("offset"), 0);
    std::vector<std::string> stats;
    auto it = a.category_stats.find(start);
    if (it != a.category_stats.end()) {
      long long i = 0;
      for (const auto& [cat, metrics] : it->second) {
        if (i >= offset && i < offset + limit)
          stats.push_back(R"({"metrics":)" + metrics + R"(,"name":")" + cat +
                          R"(","type":"category"})");
        ++i;
      }
    }
    return answer(200, R"({"date":")" + start + R"(","stats":)" + join(stats) + "}");
  }

  // Marketing stats: the listing (totals), and per item its days; page_size 1..50 and
  // page_token, _metadata.next as a full URL that keeps the other parameters.
  struct marketing_stats_path {
    const char* path;
    std::vector<std::string>* totals;
    std::map<std::string, std::vector<std::string>>* days;
  };
  const marketing_stats_path marketing_stats[] = {
      {"/v3/marketing/stats/singlesends", &a.singlesend_stats, &a.singlesend_days},
      {"/v3/marketing/stats/automations", &a.automation_stats, &a.automation_days}};
  for (const auto& [path, totals, days] : marketing_stats) {
    const std::string base = path;
    if (p != base && p.rfind(base + "/", 0) != 0) continue;
    if (a.legacy || !allowed({"marketing.read"})) return forbidden();
    const long long size = num_or(req.query("page_size"), 25);
    if (size < 1 || size > 50)
      return answer(400, R"({"errors":[{"field":"page_size","message":"1..50"}]})");
    std::vector<std::string> items = *totals;
    std::string rest = "page_size=" + std::to_string(size);
    if (p != base) {
      // /{id}: that item's days in [start_date, end_date]; only aggregated_by=day is faked.
      if (req.query("aggregated_by") != "day")
        return answer(400, R"({"errors":[{"field":"aggregated_by","message":"day|total"}]})");
      const std::string start = req.query("start_date");
      const std::string end = req.query("end_date");
      items.clear();
      auto it = days->find(url_decode(p.substr(base.size() + 1)));
      if (it != days->end()) {
        for (const auto& d : it->second) {
          const std::string day = string_field(d, "aggregation");
          if ((start.empty() || day >= start) && (end.empty() || day <= end)) items.push_back(d);
        }
      }
      rest = req.target.substr(req.target.find('?') + 1);
      rest = rest.substr(0, rest.find("&page_token="));
    }
    const long long from = num_or(req.query("page_token"), 0);
    std::vector<std::string> page;
    for (long long i = from; i < from + size && i < static_cast<long long>(items.size()); ++i)
      page.push_back(items[static_cast<std::size_t>(i)]);
    std::string body = R"({"results":)" + join(page) + R"(,"_metadata":{"self":")" + base_url() +
                       req.target + "\"";
    if (from + size < static_cast<long long>(items.size())) {
      body += R"(,"next":")" + base_url() + p + "?" + rest +
              "&page_token=" + std::to_string(from + size) + "\"";
    }
    return answer(200, body + "}}");
  }

  // The Email Activity API: at most `limit` (1..1000) messages, no cursor; the only filter the
  // fake knows is the one the sync sends: last_event_time BETWEEN TIMESTAMP "a" AND TIMESTAMP "b".
  if (p == "/v3/messages") {
    if (!allowed({"email_activity.read"}) || !a.email_activity_addon) return forbidden();
    const long long limit = num_or(req.query("limit"), 10);
    if (limit < 1 || limit > 1000)
      return answer(400, R"({"errors":[{"message":"limit must be 1..1000"}]})");
    const std::string query = url_decode(req.query("query"));
    std::string lo, hi;
    const std::string marker = "TIMESTAMP \"";
    const auto first = query.find(marker);
    const auto second = first == std::string::npos ? first : query.find(marker, first + 1);
    if (query.rfind("last_event_time BETWEEN ", 0) != 0 || second == std::string::npos)
      return answer(400, R"({"errors":[{"message":"invalid syntax"}]})");
    lo = query.substr(first + marker.size(), 24);
    hi = query.substr(second + marker.size(), 24);
    std::vector<std::string> page;
    for (const auto& m : a.messages) {
      const std::string t = string_field(m, "last_event_time");
      if (t >= lo && t <= hi) page.push_back(m);
      if (static_cast<long long>(page.size()) >= limit) break;
    }
    return answer(200, R"({"messages":)" + join(page) + "}");
  }

  handled = false;
  return {};
}

}  // namespace sgs::test
