#include "faults/fault_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace gradlab::faults {

std::string scratchFolder(const std::string& name) {
    const auto folder =
        std::filesystem::temp_directory_path() / ("gradlab-faults-" + std::to_string(::getpid())) / name;
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
    std::filesystem::create_directories(folder);
    return folder.string();
}

Ran runShell(const std::string& command) {
    Ran ran;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe)) ran.output += buffer.data();
    const int status = ::pclose(pipe);
    ran.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return ran;
}

Ran runGradlab(const std::string& arguments, int timeoutSeconds) {
    return runShell("timeout -s KILL " + std::to_string(timeoutSeconds) + " " + shellQuote(GRADLAB_BINARY) + " " +
                    arguments);
}

std::string readFile(const std::string& path) {
    std::ifstream stream(path);
    return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string& path, const std::string& text) {
    const std::filesystem::path file(path);
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    std::ofstream stream(path);
    stream << text;
    REQUIRE(stream.flush());
}

std::string shellQuote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string smallRunConfig(const std::string& output, int steps, int checkpointEvery, int flushEvery) {
    return "name: small\nseed: 3\n"
           "data: {kind: teacher, samples: 128, inputs: 16, outputs: 2, hidden: [8]}\n"
           "model:\n  layers: [{kind: dense, units: 32}, tanh, {kind: dense, units: 2}]\n"
           "loss: mse\noptimizer: {kind: sgd, lr: 0.05}\n"
           "training: {steps: " + std::to_string(steps) + ", batch_size: 32}\n"
           "trace: {every: 1, flush_every: " + std::to_string(flushEvery) + "}\n" +
           (checkpointEvery > 0 ? "checkpoint: {every: " + std::to_string(checkpointEvery) + ", seconds: 0}\n"
                                : std::string("checkpoint: {enabled: false}\n")) +
           "output: " + output + "\n";
}

}  // namespace gradlab::faults
