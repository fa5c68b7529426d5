#include "support/cli_runner.hpp"

#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>

namespace gradlab::testing {
namespace {

Outcome runShell(const std::string& command) {
    Outcome outcome;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe)) outcome.output += buffer.data();
    const int status = ::pclose(pipe);
    outcome.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return outcome;
}

}  // namespace

Outcome runGradlab(const std::string& arguments) {
    return runShell(std::string(GRADLAB_BINARY) + " " + arguments + " 2>&1");
}

Outcome runGradlabStdout(const std::string& arguments) {
    return runShell("env -u GRADLAB_PLUGIN_PATH " + std::string(GRADLAB_BINARY) + " " + arguments);
}

}  // namespace gradlab::testing
