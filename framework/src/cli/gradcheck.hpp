#pragma once
/// @file gradcheck.hpp
/// `gradlab gradcheck`: a plugin's analytic gradients against float64 central finite differences.

#include <string>
#include <vector>

namespace gradlab::cli {

/// `gradlab gradcheck KIND NAME [--options YAML | --options-file FILE] [--input-shape F[xT]] [--batch B]
/// [--seed S] [--precision float64] [--tolerance T] [--plugin-path DIR]...` for KIND layer, activation or
/// regularizer. Prints one line per tensor (input "x", then each parameter by qualified name) with its largest
/// relative error and PASS or FAIL. Returns 0 when every tensor passes, 1 when one fails (or the plugin throws
/// while checked), 2 for usage errors: bad arguments, unknown plugin, options its declaration refuses, or a
/// plugin that refuses to be built for the input shape.
int gradcheckCommand(const std::vector<std::string>& arguments);

}  // namespace gradlab::cli
