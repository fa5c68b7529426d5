// The detectors on real runs: silent on the classic example, vanishing on a deep sigmoid MLP, and the
// non-finite detector locating planted faults by phase and layer.
#include <catch2/catch.hpp>
#include <fstream>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

RunResult runConfig(const std::string& file, const std::vector<std::string>& overrides, const std::string& output,
                    PluginHost& host = testing::builtinPlugins()) {
    const RunConfig config = loadRunConfig(file, overrides, host);
    RunOptions options;
    options.output = output;
    return runTraining(config, host, options);
}

PluginHost& hostWithFaults() {
    static PluginHost* host = [] {
        auto* created = new PluginHost();
        created->loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
        created->loadLibrary(std::string(GRADLAB_TEST_PLUGIN_DIR) + "/fault_injection/libtest_plugin_fault_injection.so");
        return created;
    }();
    return *host;
}

std::string faultConfig(const std::string& fault, const std::string& optimizer = "{kind: sgd, lr: 0.01}") {
    const std::string path = testing::scratchPath("fault.yaml");
    std::ofstream(path) << "data: {kind: random_regression, samples: 32, inputs: 6, outputs: 2}\n"
                           "model:\n  layers:\n"
                           "    - {kind: dense, units: 8, activation: tanh}\n"
                           "    - " << fault << "\n"
                           "    - {kind: dense, units: 2}\n"
                           "optimizer: " << optimizer << "\n"
                           "training: {steps: 10, batch_size: 8}\n";
    return path;
}

}  // namespace

TEST_CASE("the classic two-layer example fires no detector", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("detect_two_layer.h5");
    const RunResult result =
        runConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml", {"training.steps=100"}, output);
    CHECK(result.status == RunStatus::completed);
    CHECK(result.events.empty());
    trace::TraceReader reader(output);
    CHECK(reader.readVector("/events/step").size() == 0);
    const Eigen::MatrixXd saturation = reader.readMatrix("/trace/saturation");
    REQUIRE(saturation.cols() == 3);
    CHECK(std::isnan(saturation(0, 0)));       // dense without activation: no statistic
    CHECK(saturation(0, 1) >= 0);              // the relu layer reports its dead units
    CHECK(saturation(0, 1) < 0.5);
}

TEST_CASE("a deep sigmoid MLP fires the vanishing detector at initialisation", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("detect_sigmoid.h5");
    const RunResult result = runConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/deep_sigmoid.yaml",
                                       {"training.steps=5", "trace.every=1"}, output);
    REQUIRE(result.status == RunStatus::completed);
    REQUIRE_FALSE(result.events.empty());
    CHECK(result.events[0].kind == "vanishing");
    CHECK(result.events[0].step == 0);
    CHECK(result.events[0].where == "layers.0.dense");
    trace::TraceReader reader(output);
    CHECK(reader.readStrings("/events/kind").at(0) == "vanishing");
    CHECK(reader.readVector("/events/value")(0) < 1e-5);
}

TEST_CASE("the non-finite detector locates a planted forward fault", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("fault_forward.h5");
    const RunResult result =
        runConfig(faultConfig("{kind: fault, phase: forward, call: 4}"), {}, output, hostWithFaults());
    REQUIRE(result.status == RunStatus::diverged);
    CHECK(result.divergedAt == 3);
    REQUIRE(result.events.size() == 1);
    CHECK(result.events[0].kind == "non_finite");
    CHECK(result.events[0].where == "forward layers.1.fault");
    CHECK_THAT(result.message, Contains("loss became NaN at step 3"));
    trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("status") == "diverged");
    CHECK(reader.readStrings("/events/where").at(0) == "forward layers.1.fault");
    CHECK(reader.readVector("/trace/step").size() == 4);
}

TEST_CASE("the non-finite detector locates a planted backward fault", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("fault_backward.h5");
    const RunResult result =
        runConfig(faultConfig("{kind: fault, phase: backward, call: 2}"), {}, output, hostWithFaults());
    REQUIRE(result.status == RunStatus::diverged);
    CHECK(result.divergedAt == 1);
    REQUIRE(result.events.size() == 1);
    // The fault corrupts the gradient it passes back, i.e. the signal at the output of layer 0.
    CHECK(result.events[0].where == "backward layers.0.dense");
}

TEST_CASE("a diverging learning rate is located after the update that broke it", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("detect_diverge.h5");
    const RunResult result = runConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml",
                                       {"optimizer.lr=1e-2", "training.steps=200", "trace.every=1000"}, output);
    REQUIRE(result.status == RunStatus::diverged);
    bool located = false;
    for (const auto& event : result.events)
        if (event.kind == "non_finite") located = event.where.rfind("update ", 0) == 0 || event.where.rfind("forward ", 0) == 0;
    CHECK(located);
}

TEST_CASE("a detector with action stop ends the run with status stopped", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("detect_stop.h5");
    const RunResult result = runConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/deep_sigmoid.yaml",
                                       {"training.steps=50", "trace.every=1", "detectors.vanishing.action=stop"},
                                       output);
    CHECK(result.status == RunStatus::stopped);
    CHECK(result.steps == 1);
    CHECK_THAT(result.message, Contains("vanishing"));
    trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("status") == "stopped");
}

TEST_CASE("the non-finite detector locates a planted update fault", "[e2e][detectors]") {
    const std::string output = testing::scratchPath("fault_update.h5");
    const RunResult result = runConfig(faultConfig("{kind: fault, phase: forward, call: 1000}", "{kind: fault_sgd, step: 2}"),
                                       {}, output, hostWithFaults());
    REQUIRE(result.status == RunStatus::diverged);
    CHECK(result.divergedAt == 2);
    REQUIRE(result.events.size() == 1);
    CHECK(result.events[0].where == "update layers.0.dense.W");
    CHECK_THAT(result.message, Contains("the update of layers.0.dense.W became non-finite at step 2"));
}

TEST_CASE("regularizers apply to the parameters their pattern selects", "[e2e][regularizers]") {
    const std::string base = std::string(GRADLAB_SOURCE_DIR) + "/configs/spirals.yaml";
    auto penaltyAt0 = [&](const std::string& params) {
        const std::string output = testing::scratchPath("reg_" + std::to_string(params.size()) + ".h5");
        const RunResult result = runConfig(base, {"training.epochs=0.05", "regularizers.0.params=" + params}, output);
        REQUIRE(result.status == RunStatus::completed);
        return trace::TraceReader(output).readVector("/trace/reg_loss")(0);
    };
    const double weights = penaltyAt0("weights");
    const double all = penaltyAt0("all");
    const double biases = penaltyAt0("'*.b'");
    CHECK(weights > 0);
    CHECK(biases == 0);               // biases start at zero
    // 'all' adds only the prelu slope: coefficient 1e-4 times 0.25^2 (biases start at zero).
    CHECK(all - weights == Approx(1e-4 * 0.0625).epsilon(1e-3));
    CHECK_THROWS_WITH(runConfig(base, {"regularizers.0.params=nothing.*"}, testing::scratchPath("reg_none.h5")),
                      Contains("selects no parameter"));
}
