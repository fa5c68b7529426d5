#pragma once
/// @file json.hpp
/// The JSON literals gradlab's --json outputs are made of.

#include <string>

namespace gradlab::analysis {

/// A JSON string literal; invalid UTF-8 bytes become U+FFFD.
std::string jsonString(const std::string& text);

/// A JSON number that reads back to the same double, or null for NaN and infinities.
std::string jsonNumber(double value);

}  // namespace gradlab::analysis
