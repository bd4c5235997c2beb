// Pieces of the Prometheus text exposition format (0.0.4) that every /metrics renderer uses.
#pragma once

#include <string>
#include <string_view>

namespace sgs::metrics {

// Appends the "# HELP" and "# TYPE" lines that start a metric family.
void family(std::string& out, const char* name, const char* type, const char* help);

// A label value with backslash, double quote and newline escaped.
std::string label(std::string_view value);

// A sample value, as short as it can be written (%.6g).
std::string number(double value);

}  // namespace sgs::metrics
