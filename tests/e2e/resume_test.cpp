// End to end: runs killed (SIGKILL at random moments, SIGTERM) and resumed with `gradlab run --resume` end bit for
// bit as runs never stopped; every killed trace opens and holds a consistent prefix of the full trace.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"

using Catch::Matchers::Contains;
using gradlab::testing::checkSameTrace;
using gradlab::testing::listDatasets;
using gradlab::testing::runGradlab;
using gradlab::testing::scratchPath;
using gradlab::trace::TraceReader;

namespace fs = std::filesystem;

namespace {

/// An MLP with batch norm (running statistics are buffers), Adam (moments), validation, snapshots, the
/// detectors and a probe (its tables, one of them in a subgroup): every kind of state a checkpoint must carry.
const char* mlp = R"(name: resume_mlp
seed: 3
data: {kind: teacher, samples: 512, inputs: 16, outputs: 2, hidden: [16], noise: 0.01, validation: 0.2}
model:
  layers:
    - repeat: 3
      layers: [{kind: dense, units: 48}, {kind: batchnorm}, tanh]
    - {kind: dense, units: 2}
loss: mse
optimizer: {kind: adam, lr: 1.0e-3}
training: {steps: 2500, batch_size: 32, eval_every: 50}
trace: {every: 1, flush_every: 10, snapshot_every: 400}
detectors: {stalled: {window: 20, loss_change: 1.0e-3}}
checkpoint: {every: 40}
probes: [{kind: jacobian_spectrum, every: 30, examples: 2, batch: 4, from: [layers.3.dense]}]
)";

/// An LSTM on the adding problem with clipping: per-timestep statistic tables and a clip table.
const char* lstmConfig = R"(name: resume_lstm
seed: 5
data: {kind: adding_sum, samples: 256, timesteps: 12, validation: 0.25}
model:
  layers:
    - {kind: lstm, units: 12, return_sequences: false}
    - {kind: dense, units: 1}
loss: mse
optimizer: {kind: rmsprop, lr: 3.0e-3, momentum: 0.5}
training: {steps: 1500, batch_size: 16, eval_every: 25, clip: {mode: value, threshold: 0.5}}
trace: {every: 2, flush_every: 7}
checkpoint: {every: 30}
)";

std::string writeConfig(const std::string& name, const char* text) {
    const std::string path = scratchPath(name + ".yaml");
    std::ofstream(path) << text;
    return path;
}

/// Starts `gradlab run CONFIG -o OUTPUT -q [--resume]` as a child process.
pid_t startRun(const std::string& config, const std::string& output, bool resume) {
    const pid_t child = ::fork();
    if (child == 0) {
        ::execl(GRADLAB_BINARY, GRADLAB_BINARY, "run", config.c_str(), "-o", output.c_str(), "-q",
                resume ? "--resume" : static_cast<char*>(nullptr), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    return child;
}

/// Waits for the child; its exit code, or -signal when a signal ended it.
int waitFor(pid_t child) {
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/// Checks what a killed run leaves: the trace opens, says it did not complete, and every table holds a prefix
/// of the uninterrupted run's table, each column as long as the others.
void checkKilledTrace(const std::string& fullPath, const std::string& killedPath) {
    const TraceReader full(fullPath), killed(killedPath);
    CHECK(killed.stringAttribute("status") == "running");
    CHECK(killed.stringAttribute("finished_at").empty());
    for (const std::string table : {"/trace", "/eval", "/probes/jacobian_spectrum"}) {
        if (!killed.hasGroup(table)) continue;
        const std::vector<std::string> columns = listDatasets(killed, table);
        REQUIRE_FALSE(columns.empty());
        const hsize_t rows = killed.datasetShape(columns.front()).front();
        for (const std::string& column : columns) {
            INFO(column);
            CHECK(killed.datasetShape(column).front() == rows);
            const Eigen::MatrixXd prefix = full.readFlattened(column).topRows(static_cast<Eigen::Index>(rows));
            const Eigen::MatrixXd got = killed.readFlattened(column);
            CHECK(std::memcmp(prefix.data(), got.data(), sizeof(double) * static_cast<std::size_t>(got.size())) == 0);
        }
    }
}

}  // namespace

TEST_CASE("runs killed with SIGKILL at random moments and resumed end bit for bit as runs never stopped",
          "[e2e][checkpoint][kill]") {
    const auto [name, text] = GENERATE(table<std::string, const char*>({{"resume_mlp", mlp}, {"resume_lstm", lstmConfig}}));
    INFO(name);
    const std::string config = writeConfig(name, text);
    const std::string fullPath = scratchPath(name + "-full.h5");
    REQUIRE(waitFor(startRun(config, fullPath, false)) == 0);
    REQUIRE(TraceReader(fullPath).stringAttribute("status") == "completed");

    const std::string killedPath = scratchPath(name + "-killed.h5");
    // The delays are drawn from a fixed seed; where they land in the run still varies with the machine's speed.
    std::mt19937 random(11);
    std::uniform_int_distribution<int> delay(30, 250);
    int killedMidRun = 0, resumedFromCheckpoint = 0;
    for (int attempt = 0; attempt < 6; ++attempt) {
        const bool resume = attempt > 0;
        if (resume && fs::exists(killedPath.substr(0, killedPath.size() - 3) + ".ckpt.h5")) ++resumedFromCheckpoint;
        const pid_t child = startRun(config, killedPath, resume);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(random)));
        ::kill(child, SIGKILL);
        const int exit = waitFor(child);
        if (exit == 0) break;  // it finished before the kill
        REQUIRE(exit == -SIGKILL);
        if (!fs::exists(killedPath)) continue;  // killed before it created its trace
        ++killedMidRun;
        checkKilledTrace(fullPath, killedPath);
    }
    // Finish it.
    REQUIRE(waitFor(startRun(config, killedPath, true)) == 0);
    checkSameTrace(fullPath, killedPath);
    CHECK(killedMidRun >= 2);
    CHECK(resumedFromCheckpoint >= 1);
    // A finished run leaves no checkpoint behind.
    CHECK_FALSE(fs::exists(killedPath.substr(0, killedPath.size() - 3) + ".ckpt.h5"));
}

TEST_CASE("a run stopped with SIGTERM keeps a checkpoint at that step and resumes to the same end",
          "[e2e][checkpoint][signals]") {
    const std::string config = writeConfig("resume_term", mlp);
    const std::string fullPath = scratchPath("resume_term-full.h5");
    REQUIRE(waitFor(startRun(config, fullPath, false)) == 0);
    const std::string path = scratchPath("resume_term.h5");
    const pid_t child = startRun(config, path, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(child, SIGTERM);
    REQUIRE(waitFor(child) == 128 + SIGTERM);
    {
        const TraceReader reader(path);
        CHECK(reader.stringAttribute("status") == "interrupted");
        CHECK_THAT(reader.stringAttribute("status_message"), Contains("resume with --resume"));
    }
    REQUIRE(fs::exists(scratchPath("resume_term.ckpt.h5")));
    const auto outcome = runGradlab("run " + config + " -o " + path + " --resume");
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("resumed at step"));
    checkSameTrace(fullPath, path);
}

TEST_CASE("resuming refuses what would not continue the same run, naming the file and the difference",
          "[e2e][checkpoint][errors]") {
    const std::string config = writeConfig("resume_errors", mlp);
    const std::string path = scratchPath("resume_errors.h5");
    const std::string checkpoint = scratchPath("resume_errors.ckpt.h5");
    const pid_t child = startRun(config, path, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(child, SIGTERM);
    REQUIRE(waitFor(child) == 128 + SIGTERM);
    REQUIRE(fs::exists(checkpoint));

    SECTION("another config") {
        const auto outcome = runGradlab("run " + config + " -o " + path + " --resume --set optimizer.lr=0.5");
        CHECK(outcome.exitCode == 1);
        CHECK_THAT(outcome.output, Contains(checkpoint) && Contains("different config") && Contains("lr: 0.5"));
    }
    SECTION("a trace that is gone") {
        fs::remove(path);
        const auto outcome = runGradlab("run " + config + " -o " + path + " --resume");
        CHECK(outcome.exitCode == 1);
        CHECK_THAT(outcome.output, Contains(path) && Contains("is gone"));
    }
    SECTION("a checkpoint that is not one") {
        std::ofstream(checkpoint, std::ios::trunc) << "garbage";
        const auto outcome = runGradlab("run " + config + " -o " + path + " --resume");
        CHECK(outcome.exitCode == 1);
        CHECK_THAT(outcome.output, Contains(checkpoint) && Contains("not an HDF5 file"));
    }
    SECTION("no checkpoint: the run starts from step 0 and says so") {
        fs::remove(checkpoint);
        const auto outcome = runGradlab("run " + config + " -o " + path + " --resume --set training.steps=20");
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("started from step 0"));
    }
}
