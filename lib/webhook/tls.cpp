// Builds the listener's TLS context from PEM files; errors name the key and the file.
#include "webhook/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

namespace sgs::webhook {
namespace {

namespace ssl = boost::asio::ssl;

// The OpenSSL error queue's oldest entry as a sentence; clears the queue so a later
// failure does not report this one.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  if (const unsigned long code = ERR_peek_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason = text;
  }
  ERR_clear_error();
  return reason;
}

std::string quoted(const std::filesystem::path& path) { return "\"" + path.string() + "\""; }

std::string mismatch(const tls_files& files) {
  return "server.tls_key_file: the private key in " + quoted(files.key_file) +
         " does not match the certificate in " + quoted(files.cert_file);
}

}  // namespace

std::variant<std::shared_ptr<ssl::context>, std::string> load_tls_context(const tls_files& files) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  // SendGrid requires TLS 1.2; nothing older is offered, so a downgrade cannot be forced.
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  ERR_clear_error();
  boost::system::error_code ec;
  context->use_certificate_chain_file(files.cert_file.string(), ec);
  if (ec) {
    return "server.tls_cert_file: cannot load the certificate chain from " +
           quoted(files.cert_file) + ": " + openssl_reason(ec);
  }
  context->use_private_key_file(files.key_file.string(), ssl::context::pem, ec);
  // Asio has taken the error off OpenSSL's queue: its value is the packed OpenSSL code.
  if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    ERR_clear_error();
    return mismatch(files);
  }
  if (ec) {
    return "server.tls_key_file: cannot load the private key from " + quoted(files.key_file) +
           ": " + openssl_reason(ec);
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return mismatch(files);
  }
  return context;
}

std::optional<std::string> check_tls_files(const tls_files& files) {
  auto loaded = load_tls_context(files);
  if (auto* error = std::get_if<std::string>(&loaded)) return std::move(*error);
  return std::nullopt;
}

}  // namespace sgs::webhook
