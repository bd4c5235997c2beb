// Reads a source's API key from where the config says it is (inline, file or environment).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"

namespace sgs::config {

// Either the key (nullopt when the source has none configured, so its sync is off) or an
// error message. Error messages name the variable or file, never the key's content.
using api_key_result = std::variant<std::optional<std::string>, std::string>;

// Reads the key once at start. Leading and trailing whitespace is trimmed (files usually end
// in a newline); a key that is empty, or has spaces or control characters inside, is an
// error because it would be rejected by SendGrid or corrupt the Authorization header.
// Reads the process environment; call it from one thread at start-up.
api_key_result resolve_api_key(const api_key_source& source, std::string_view source_name);

// Another secret kept in a file (webhook_oauth_client_secret_file), read and checked like
// api_key_file: same path resolution, trimming and size cap; errors name `key_name`.
api_key_result resolve_secret_file(const std::filesystem::path& configured,
                                   std::string_view source_name, std::string_view key_name);

// Where api_key_file points: a relative path resolves against $CREDENTIALS_DIRECTORY (set
// by systemd's LoadCredential=) when it is set, else it is used as given.
std::filesystem::path resolve_api_key_path(const std::filesystem::path& configured);

// True when the file's mode lets users other than its owner and group read it, so the
// daemon can warn that the key is exposed. False when the file cannot be stat()ed.
bool file_readable_by_others(const std::filesystem::path& path);

}  // namespace sgs::config
