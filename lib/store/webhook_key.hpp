// A signed-webhook public key stored by `webhook configure`, whatever the store.
#pragma once

#include <string>

namespace sgs::store {

struct stored_webhook_key {
  std::string public_key;  // base64 DER SubjectPublicKeyInfo, as SendGrid returned it
  std::string webhook_id;
  std::string webhook_url;
  std::string added_at;  // ISO-8601 UTC
};

}  // namespace sgs::store
