// gzip-compressing test data (one gzip member), as SendGrid's export files are.
#pragma once

#include <string>
#include <string_view>

namespace sgs::test {

std::string gzip(std::string_view data);

}  // namespace sgs::test
