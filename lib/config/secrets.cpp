// Reads a source's API key from where the config says it is (inline, file or environment).
#include "config/secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace sgs::config {
namespace {

// An API key is ~70 bytes; a bigger file is a wrong path (a log, a binary), and reading it
// all would be pointless.
constexpr std::size_t max_key_file_bytes = 64 * 1024;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// Checks a key without ever putting it in the message. `where` says where it came from.
api_key_result checked(std::string_view raw, std::string_view source_name,
                       const std::string& where) {
  const std::string_view key = trimmed(raw);
  const std::string prefix = "source '" + std::string(source_name) + "': ";
  if (key.empty()) return prefix + where + " is empty";
  if (has_space_or_control(key)) {
    return prefix + where +
           " holds spaces, line breaks or control characters inside the key; it must hold "
           "only the API key";
  }
  return std::optional<std::string>(std::string(key));
}

api_key_result read_key_file(const std::filesystem::path& configured, std::string_view source_name,
                             std::string_view key_name) {
  const std::filesystem::path path = resolve_api_key_path(configured);
  const std::string prefix =
      "source '" + std::string(source_name) + "': " + std::string(key_name) + " ";
  const std::string shown = "\"" + path.string() + "\"";

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    return prefix + shown + " cannot be opened: " + errno_text(error);
  }
  std::string content;
  char buffer[4096];
  std::string failure;
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      failure = prefix + shown + " cannot be read: " + errno_text(errno);
      break;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > max_key_file_bytes) {
      failure = prefix + shown + " is larger than 64 KiB; it must hold only the API key";
      break;
    }
  }
  ::close(fd);
  if (!failure.empty()) return failure;
  return checked(content, source_name, std::string(key_name) + " " + shown);
}

}  // namespace

std::filesystem::path resolve_api_key_path(const std::filesystem::path& configured) {
  if (configured.is_absolute()) return configured;
  const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
  if (credentials == nullptr || *credentials == '\0') return configured;
  return std::filesystem::path(credentials) / configured;
}

api_key_result resolve_api_key(const api_key_source& source, std::string_view source_name) {
  if (source.inline_key) return checked(*source.inline_key, source_name, "api_key");
  if (source.env) {
    const char* value = std::getenv(source.env->c_str());
    if (value == nullptr || *value == '\0') {
      return "source '" + std::string(source_name) + "': api_key_env names " + *source.env +
             ", which is not set";
    }
    return checked(value, source_name, "the environment variable " + *source.env);
  }
  if (source.file) return read_key_file(*source.file, source_name, "api_key_file");
  return std::optional<std::string>();
}

api_key_result resolve_secret_file(const std::filesystem::path& configured,
                                   std::string_view source_name, std::string_view key_name) {
  return read_key_file(configured, source_name, key_name);
}

bool file_readable_by_others(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  return (info.st_mode & S_IROTH) != 0;
}

}  // namespace sgs::config
