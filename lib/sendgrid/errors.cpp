// Turns SendGrid error bodies and auth failures into sentences an operator can act on.
#include "sendgrid/errors.hpp"

#include <simdjson.h>

namespace sgs::sendgrid {

namespace {

std::string clean_line(std::string_view text, std::size_t max_chars) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r') break;
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string_view strip_query(std::string_view url) {
  // Keep the path only: "https://api.sendgrid.com/v3/x?page_token=..." -> "/v3/x".
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    auto path = url.find('/', scheme + 3);
    url = path == std::string_view::npos ? std::string_view("/") : url.substr(path);
  }
  return url.substr(0, url.find('?'));
}

}  // namespace

std::string describe_error_body(std::string_view body) {
  if (body.empty()) return {};
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) == simdjson::SUCCESS && doc.is_object()) {
    simdjson::dom::array errors;
    if (doc["errors"].get_array().get(errors) == simdjson::SUCCESS) {
      std::string out;
      for (simdjson::dom::element e : errors) {
        std::string_view message;
        if (e["message"].get_string().get(message) != simdjson::SUCCESS) continue;
        if (!out.empty()) out += "; ";
        out += clean_line(message, 200);
        std::string_view field;
        if (e["field"].get_string().get(field) == simdjson::SUCCESS && !field.empty() &&
            field != "null") {
          out += " (field " + clean_line(field, 80) + ")";
        }
      }
      if (!out.empty()) return out;
    }
    for (const char* key : {"error", "message"}) {
      std::string_view text;
      if (doc[key].get_string().get(text) == simdjson::SUCCESS) return clean_line(text, 200);
    }
  }
  return clean_line(body, 200);
}

std::string http_failure_message(std::string_view method, std::string_view url, int status,
                                 std::string_view body) {
  std::string out = "HTTP " + std::to_string(status) + " from " + std::string(method) + " " +
                    std::string(strip_query(url));
  const std::string said = describe_error_body(body);
  if (!said.empty()) out += ": " + said;
  return out;
}

std::string auth_failure_message(std::string_view source, int status, std::string_view body,
                                 std::string_view what, std::string_view permission,
                                 std::string_view on_behalf_of) {
  std::string out;
  const std::string src = "'" + std::string(source) + "'";
  if (status == 401) {
    out = "the API key for source " + src +
          " was rejected (401): create a key under Settings > API Keys and set api_key_file";
  } else {
    out =
        "the API key for source " + src + " is not allowed to read " + std::string(what) + " (" +
        std::to_string(status) + "): give the key the " + std::string(permission) +
        " permission under Settings > API Keys (or create a key that has it) and set api_key_file";
  }
  if (!on_behalf_of.empty()) {
    out += "; requests are made on behalf of subuser '" + std::string(on_behalf_of) +
           "': check that it exists and belongs to this key's account";
  }
  const std::string said = describe_error_body(body);
  if (!said.empty()) out += " (SendGrid said: " + said + ")";
  return out;
}

}  // namespace sgs::sendgrid
