#pragma once
/// @file cli_runner.hpp
/// Runs the real `gradlab` binary of the build, as a user's shell would, for the CLI tests.

#include <string>

namespace gradlab::testing {

/// What a command printed and how it exited.
struct Outcome {
    int exitCode = -1;   ///< the process's exit code; -1 when it did not exit normally
    std::string output;  ///< what it printed (see runGradlab)
};

/// Runs `gradlab ARGUMENTS` (shell words) and captures stdout and stderr together.
Outcome runGradlab(const std::string& arguments);

/// Runs `gradlab ARGUMENTS` with GRADLAB_PLUGIN_PATH unset and captures stdout only.
Outcome runGradlabStdout(const std::string& arguments);

}  // namespace gradlab::testing
