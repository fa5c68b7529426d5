#pragma once
/// @file run_fixture.hpp
/// A whole run in the test process: a config's text written to a scratch file, loaded with overrides and trained
/// with the built-in plugins.

#include <string>
#include <vector>

namespace gradlab::testing {

/// Writes `yaml` to <scratch>/<name>.yaml, loads it with `overrides` (and output=<scratch>/<name>.h5), trains it
/// and REQUIREs that the run completed; returns the trace's path.
std::string runConfig(const std::string& name, const std::string& yaml, const std::vector<std::string>& overrides = {});

}  // namespace gradlab::testing
