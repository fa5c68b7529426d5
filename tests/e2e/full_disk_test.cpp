// End to end: an output location that fills up, simulated with a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so
// writes fail with EFBIG as they would with ENOSPC). Before training: refused with the folder named. During
// training: a failed run with the file and the reason, never a crash and never a trace that passes for a result.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"

using Catch::Matchers::Contains;
using gradlab::testing::scratchPath;

namespace {

const char* fullDiskConfig = R"(name: full_disk
data: {kind: teacher, samples: 256, inputs: 8, outputs: 2, hidden: [8]}
model:
  layers: [{kind: dense, units: 16}, tanh, {kind: dense, units: 16}, tanh, {kind: dense, units: 2}]
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 200000, batch_size: 16}
trace: {flush_every: 50}
)";

struct Ended {
    int exitCode = -1;  ///< -1: it did not exit normally (a crash)
    std::string output;
};

/// Runs `gradlab run CONFIG -o OUTPUT -q` with files limited to `limitBytes`.
Ended runLimited(const std::string& config, const std::string& output, rlim_t limitBytes) {
    const std::string log = scratchPath(std::filesystem::path(output).filename().string() + ".log");
    const pid_t child = ::fork();
    if (child == 0) {
        const rlimit limit{limitBytes, limitBytes};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        ::signal(SIGXFSZ, SIG_IGN);
        const int file = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(file, STDOUT_FILENO);
        ::dup2(file, STDERR_FILENO);
        ::execl(GRADLAB_BINARY, GRADLAB_BINARY, "run", config.c_str(), "-o", output.c_str(), "-q",
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    std::ifstream stream(log);
    Ended ended;
    ended.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ended.output.assign(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
    return ended;
}

}  // namespace

TEST_CASE("a full output location is refused before training, naming the folder", "[e2e][errors][disk]") {
    const std::string config = scratchPath("full_disk_before.yaml");
    std::ofstream(config) << fullDiskConfig;
    const std::string output = scratchPath("full_disk_before/run.h5");
    const Ended ended = runLimited(config, output, 256 * 1024);
    INFO(ended.output);
    CHECK(ended.exitCode == 1);
    CHECK_THAT(ended.output, Contains("cannot write 1 MB in the output folder") && Contains("full_disk_before") &&
                                 Contains("File too large"));
    CHECK_FALSE(std::filesystem::exists(output));
}

TEST_CASE("an output location that fills up during training fails the run cleanly", "[e2e][errors][disk]") {
    const std::string config = scratchPath("full_disk_during.yaml");
    std::ofstream(config) << fullDiskConfig;
    const std::string output = scratchPath("full_disk_during.h5");
    const Ended ended = runLimited(config, output, 1536 * 1024);
    INFO(ended.output);
    CHECK(ended.exitCode == 1);  // a clean failure, not a crash (-1)
    CHECK_THAT(ended.output, Contains(output) && Contains("File too large"));
    // Whatever is left is not mistaken for a result: unreadable, or a trace that says it did not complete.
    try {
        const gradlab::trace::TraceReader reader(output);
        CHECK(reader.stringAttribute("status") != "completed");
    } catch (const gradlab::Error& error) {
        CHECK_THAT(error.what(), Contains(output));
    }
}
