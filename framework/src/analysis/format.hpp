#pragma once
/// @file format.hpp
/// Number formatting shared by the diagnosis, its verdict and its text and JSON views.

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace gradlab::analysis {

/// A number in scientific notation with `digits` significant digits, "nan", "inf" or "-inf".
inline std::string scientific(double value, int digits = 2) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*e", digits - 1, value);
    return buffer;
}

/// A number with `digits` significant digits in the shorter of fixed and scientific notation.
inline std::string general(double value, int digits = 4) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    return buffer;
}

/// A threshold as people write it: "1e-4", "1e3", "0.5".
inline std::string threshold(double value) {
    const double exponent = std::log10(value);
    if (value > 0 && std::abs(exponent - std::round(exponent)) < 1e-12 && std::abs(exponent) >= 3) {
        return "1e" + std::to_string(static_cast<int>(std::round(exponent)));
    }
    return general(value, 6);
}

/// numerator / denominator, NaN unless both are finite and the denominator is not 0.
inline double ratio(double numerator, double denominator) {
    if (!std::isfinite(numerator) || !std::isfinite(denominator) || denominator == 0.0)
        return std::numeric_limits<double>::quiet_NaN();
    return numerator / denominator;
}

}  // namespace gradlab::analysis
