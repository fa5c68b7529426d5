// The gradlab binary as a user meets it: exit codes, messages, and what it leaves on disk.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"

using Catch::Matchers::Contains;

namespace {

using gradlab::testing::Outcome;
using gradlab::testing::runGradlab;

const std::string twoLayer = std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml";

}  // namespace

TEST_CASE("gradlab run trains, prints a summary and where the trace went", "[cli]") {
    const std::string output = gradlab::testing::scratchPath("cli_run.h5");
    const Outcome outcome = runGradlab("run " + twoLayer + " --set training.steps=20 -o " + output);
    INFO(outcome.output);
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("completed"));
    CHECK_THAT(outcome.output, Contains("steps/s"));
    CHECK_THAT(outcome.output, Contains("trace      " + output));
    gradlab::trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("status") == "completed");
}

TEST_CASE("gradlab run on a bad config fails with file:line and writes nothing", "[cli][errors]") {
    const std::string config = gradlab::testing::scratchPath("bad.yaml");
    const std::string output = gradlab::testing::scratchPath("bad.h5");
    std::filesystem::remove(output);
    std::ifstream original(twoLayer);
    std::string text((std::istreambuf_iterator<char>(original)), std::istreambuf_iterator<char>());
    text.replace(text.find("    - relu"), 10, "    - rleu");
    std::ofstream(config) << text;
    const Outcome outcome = runGradlab("run " + config + " -o " + output);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("bad.yaml:19:7: model.layers.1: unknown layer 'rleu' (did you mean 'relu'?"));
    CHECK_FALSE(std::filesystem::exists(output));
}

TEST_CASE("gradlab validate checks without running", "[cli]") {
    Outcome outcome = runGradlab("validate " + twoLayer);
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("ok (3 layers, 500 steps, float32)"));
    outcome = runGradlab("validate " + twoLayer + " --set optimizer.kind=sdg");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("unknown optimizer 'sdg' (did you mean 'sgd'?"));
}

TEST_CASE("gradlab validate builds the model run would train, and refuses what run refuses", "[cli][errors]") {
    const std::string output = gradlab::testing::scratchPath("validate_refused.h5");
    for (const std::string& set : {std::string("'model.layers.0.init={Wx: glorot_normal}'"),
                                   std::string("model.layers.2.units=7")}) {
        CAPTURE(set);
        const Outcome validate = runGradlab("validate " + twoLayer + " --set " + set);
        const Outcome run = runGradlab("run " + twoLayer + " --set " + set + " -o " + output);
        CHECK(validate.exitCode == 1);
        CHECK(run.exitCode == 1);
        const std::string expected = set.find("init") != std::string::npos
                                         ? "layers.0.dense: init: no parameter 'Wx' (known: W)"
                                         : "the model ends with 7 outputs, but the targets have 10 rows";
        CHECK_THAT(validate.output, Contains(expected));
        CHECK_THAT(run.output, Contains(expected));
    }
    // Sequence data: the output's timesteps against the targets', from the config alone.
    const std::string adding = std::string(GRADLAB_SOURCE_DIR) + "/configs/recurrent/adding_lstm.yaml";
    const Outcome sequences = runGradlab("validate " + adding + " --set model.layers.0.return_sequences=true");
    CHECK(sequences.exitCode == 1);
    CHECK_THAT(sequences.output, Contains("the model ends with 100 timestep(s) but the data has 1 target timestep(s)"));
}

TEST_CASE("gradlab validate builds the model of every shipped run config and says ok", "[cli]") {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(GRADLAB_SOURCE_DIR) + "/configs")) {
        if (entry.path().extension() != ".yaml" || entry.path().parent_path().filename() == "studies") continue;
        // A study config (a top-level sweep: block) is validated by gradlab sweep --plan, wherever it lives.
        std::ifstream file(entry.path());
        const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        if (text.rfind("sweep:", 0) == 0 || text.find("\nsweep:") != std::string::npos) continue;
        CAPTURE(entry.path().string());
        const Outcome outcome = runGradlab("validate " + entry.path().string());
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains(": ok ("));
    }
}

TEST_CASE("gradlab plugins lists kinds, names and libraries, and describes one", "[cli]") {
    Outcome outcome = runGradlab("plugins");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("activations:"));
    CHECK_THAT(outcome.output, Contains("leaky_relu"));
    CHECK_THAT(outcome.output, Contains("libgradlab_layers_dense.so"));
    outcome = runGradlab("plugins --describe leaky_relu");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("alpha (number, default 0.01"));
    outcome = runGradlab("plugins --describe leaky_rel");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("did you mean 'leaky_relu'?"));
}

TEST_CASE("usage errors exit 2 and point to --help", "[cli][errors]") {
    Outcome outcome = runGradlab("rnu");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("unknown command 'rnu' (did you mean 'run'?"));
    outcome = runGradlab("run " + twoLayer + " --sett x=1");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--sett"));
    CHECK_THAT(outcome.output, Contains("gradlab run --help"));
    outcome = runGradlab("run --help");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("--set"));
    outcome = runGradlab("run " + twoLayer + " --plugin-path /no/such/folder");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("/no/such/folder"));
}

TEST_CASE("an output folder that cannot be created is reported before training", "[cli][errors]") {
    const Outcome outcome = runGradlab("run " + twoLayer + " -o /proc/forbidden/run.h5 --set training.steps=3");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("/proc/forbidden"));
}

TEST_CASE("SIGTERM and SIGINT end a run cleanly: trace flushed and finished, status interrupted", "[cli][signals]") {
    const int signal = GENERATE(SIGTERM, SIGINT);
    const std::string output = gradlab::testing::scratchPath("interrupted_" + std::to_string(signal) + ".h5");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const std::string config = twoLayer;
        ::execl(GRADLAB_BINARY, GRADLAB_BINARY, "run", config.c_str(), "--set", "training.steps=100000000", "-o",
                output.c_str(), "-q", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Let it train for a while, then interrupt it.
    ::usleep(1500 * 1000);
    ::kill(child, signal);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + signal);
    gradlab::trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("status") == "interrupted");
    CHECK_THAT(reader.stringAttribute("status_message"), Contains("interrupted by signal " + std::to_string(signal)));
    CHECK_FALSE(reader.stringAttribute("finished_at").empty());
    const Eigen::VectorXd steps = reader.readVector("/trace/step");
    REQUIRE(steps.size() > 10);
    CHECK(steps(steps.size() - 1) == steps.size() - 1);  // every step up to the interruption is there
}

TEST_CASE("gradlab help CMD is CMD --help, which lists positionals by name and readable defaults", "[cli][help]") {
    const Outcome help = runGradlab("help run");
    CHECK(help.exitCode == 0);
    CHECK(help.output == runGradlab("run --help").output);
    CHECK_THAT(help.output, Contains("usage: gradlab run CONFIG"));
    CHECK_THAT(help.output, Contains("\n  CONFIG "));
    CHECK_THAT(help.output, !Contains("--config"));
    CHECK_THAT(runGradlab("help inspect").output, Contains("\n  FILE "));
    CHECK_THAT(runGradlab("help sweep").output, Contains("\n  CONFIG "));
    const Outcome gradcheck = runGradlab("help gradcheck");
    CHECK_THAT(gradcheck.output, Contains("\n  KIND "));
    CHECK_THAT(gradcheck.output, Contains("\n  NAME "));
    CHECK_THAT(gradcheck.output, Contains("(=1e-06)"));
    CHECK_THAT(gradcheck.output, !Contains("9.99999"));
    const Outcome unknown = runGradlab("help rnu");
    CHECK(unknown.exitCode == 2);
    CHECK_THAT(unknown.output, Contains("unknown command 'rnu' (did you mean 'run'?"));
    CHECK_THAT(runGradlab("help").output, Contains("help COMMAND"));
}

TEST_CASE("gradlab run --help lists the exit codes", "[cli][help]") {
    const Outcome help = runGradlab("run --help");
    CHECK_THAT(help.output, Contains("exit codes:"));
    CHECK_THAT(help.output, Contains("0        the run ended: completed, diverged or stopped"));
    CHECK_THAT(help.output, Contains("1        the run failed"));
    CHECK_THAT(help.output, Contains("2        bad command-line options"));
    CHECK_THAT(help.output, Contains("128 + N"));
}

TEST_CASE("gradlab run -q prints one line for a run that did not complete", "[cli]") {
    const std::string output = gradlab::testing::scratchPath("quiet_diverged.h5");
    const Outcome diverged = runGradlab("run " + std::string(GRADLAB_SOURCE_DIR) +
                                        "/configs/remedies/rnn_exploding.yaml --set training.steps=20 -q -o " + output);
    CHECK(diverged.exitCode == 0);
    CHECK_THAT(diverged.output, Contains("run rnn_exploding: diverged ("));
    CHECK_THAT(diverged.output, Contains(", trace " + output + "\n"));
    CHECK(std::count(diverged.output.begin(), diverged.output.end(), '\n') == 1);
    const Outcome completed = runGradlab("run " + twoLayer + " --set training.steps=3 -q -o " + output);
    CHECK(completed.exitCode == 0);
    CHECK(completed.output.empty());
}

TEST_CASE("an output folder that cannot be written is reported for the trace", "[cli][errors]") {
    const Outcome outcome = runGradlab("run " + twoLayer + " -o /proc/self/run.h5 --set training.steps=3");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("the trace '/proc/self/run.h5'"));  // the lock beside it is the first write
    CHECK_THAT(outcome.output, !Contains("ckpt"));
}

TEST_CASE("a folder given to --plugin-path skips libraries that are not plugins, with a warning", "[cli][plugins]") {
    const std::string folder = std::string(GRADLAB_TEST_PLUGIN_DIR) + "/no_entry_point";
    const Outcome outcome = runGradlab("validate " + twoLayer + " --plugin-path " + folder);
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("warning: skipping '" + folder + "/libtest_plugin_no_entry_point.so'"));
    CHECK_THAT(outcome.output, Contains("not a gradlab plugin"));
    const Outcome named =
        runGradlab("validate " + twoLayer + " --plugin-path " + folder + "/libtest_plugin_no_entry_point.so");
    CHECK(named.exitCode == 1);
    CHECK_THAT(named.output, Contains("is not a gradlab plugin"));
}
