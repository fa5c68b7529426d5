#pragma once
/// @file error.hpp
/// The one exception type gradlab throws across the plugin boundary.

#include <stdexcept>
#include <string>

#include "gradlab/visibility.hpp"

namespace gradlab {

/// A failure with a message that says what failed, on which object, got vs expected.
/// Plugins throw it for bad options or shapes; the host adds where (file:line) and stops cleanly.
class GRADLAB_API Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace gradlab
