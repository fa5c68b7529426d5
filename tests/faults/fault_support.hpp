#pragma once
/// @file fault_support.hpp
/// What the fault tests share: scratch folders, running the real binary, small configs that train in a blink.

#include <string>

namespace gradlab::faults {

/// An empty folder for one test: <tmp>/gradlab-faults-<pid>/<name>, removed and created afresh.
std::string scratchFolder(const std::string& name);

/// How a command ended.
struct Ran {
    int exitCode = -1;   ///< the exit code; -1 when it did not exit normally
    std::string output;  ///< stdout and stderr together
};

/// Runs a shell command, capturing stdout and stderr.
Ran runShell(const std::string& command);

/// Runs `gradlab ARGUMENTS` (shell words) with a time limit (`timeout`), capturing stdout and stderr.
Ran runGradlab(const std::string& arguments, int timeoutSeconds = 120);

/// The file's text ("" when it cannot be read).
std::string readFile(const std::string& path);

/// Writes `text` to `path`, creating its folder.
void writeFile(const std::string& path, const std::string& text);

/// `text` as one shell word.
std::string shellQuote(const std::string& text);

/// A two-layer regression run (teacher data, dense-tanh-dense) of `steps` steps, every step traced, a checkpoint
/// every `checkpointEvery` steps (0: none), trace flushed every `flushEvery` rows, output `output`.
std::string smallRunConfig(const std::string& output, int steps = 600, int checkpointEvery = 200, int flushEvery = 50);

}  // namespace gradlab::faults
