// TLS for the listener: the certificate and key files, and loading them into an OpenSSL
// context (TLS 1.2 and later only). The server swaps in a freshly loaded context on reload.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace boost::asio::ssl {
class context;
}

namespace sgs::webhook {

// Where the PEM certificate chain (leaf first) and its private key are.
struct tls_files {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

// A server context built from `files`, or a sentence naming the config key and the file
// that failed and why ("server.tls_key_file: cannot load \"/etc/...\": ..."). Reads the
// files; never logs. Contexts are immutable once built and may be shared between threads.
std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string> load_tls_context(
    const tls_files& files);

// The same check without keeping the context: nullopt when the files load, else the
// sentence above. For start-up, before anything else is opened.
std::optional<std::string> check_tls_files(const tls_files& files);

}  // namespace sgs::webhook
