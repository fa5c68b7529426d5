// Mean-field theory written by real runs: the prediction sits beside what the trace measures.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;

namespace {

trace::TraceReader runAndRead(const std::string& config, const std::string& name) {
    const RunConfig loaded = loadRunConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/" + config,
                                           {"training.steps=1"}, testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath(name);
    REQUIRE(runTraining(loaded, testing::builtinPlugins(), options).status == RunStatus::completed);
    return trace::TraceReader(options.output);
}

}  // namespace

TEST_CASE("a deep sigmoid MLP's measured per-layer decay matches chi_1", "[e2e][theory]") {
    const auto reader = runAndRead("deep_sigmoid.yaml", "theory_sigmoid.h5");
    REQUIRE(reader.hasGroup("/theory"));
    CHECK(reader.stringAttribute("activation", "/theory") == "sigmoid");
    const double chi1 = reader.doubleAttribute("chi_1", "/theory");
    CHECK(reader.doubleAttribute("sigma_w2", "/theory") == Approx(1.0).epsilon(0.05));  // glorot_normal, 64 -> 64
    // Hidden layers 1..19: the geometric mean of the squared per-layer factor at step 0.
    const Eigen::MatrixXd signal = reader.readMatrix("/trace/signal_grad_norm");
    const double factor = std::pow(signal(0, 1) / signal(0, 19), 2.0 / 18.0);
    INFO("measured " << factor << ", chi_1 " << chi1);
    CHECK(factor == Approx(chi1).epsilon(0.15));  // width 64 is far from the infinite-width limit
}

TEST_CASE("ReLU with He initialisation is critical: chi_1 near 1", "[e2e][theory]") {
    const auto reader = runAndRead("deep_relu.yaml", "theory_relu.h5");
    CHECK(reader.doubleAttribute("chi_1", "/theory") == Approx(1.0).epsilon(0.05));
}

TEST_CASE("models outside the theory's assumptions get a /theory note saying why", "[e2e][theory]") {
    for (const auto& [config, why] : std::vector<std::pair<std::string, std::string>>{
             {"remedies/residual_50.yaml", "is neither a dense layer nor an element-wise activation"},
             {"remedies/deep_sigmoid_batchnorm.yaml", "(batchnorm) is neither a dense layer"}}) {
        CAPTURE(config);
        const auto reader = runAndRead(config, "theory_outside.h5");
        REQUIRE(reader.hasGroup("/theory"));
        CHECK(reader.integerAttribute("applies", "/theory") == 0);
        CHECK_THAT(reader.stringAttribute("note", "/theory"), Catch::Matchers::Contains(why));
        CHECK_FALSE(reader.hasAttribute("chi_1", "/theory"));
        const analysis::Diagnosis diagnosis = analysis::diagnose(testing::scratchPath("theory_outside.h5"));
        CHECK_FALSE(diagnosis.theory.applies);
        CHECK_THAT(analysis::formatText(diagnosis), Catch::Matchers::Contains("no mean-field theory: layer"));
    }
}

TEST_CASE("identity layers are no-ops for the theory", "[e2e][theory]") {
    // The no-normalisation baseline of the batchnorm study: dense, identity, sigmoid.
    const std::string config = testing::scratchPath("theory_identity.yaml");
    std::ofstream(config) << "name: theory_identity\n"
                             "data: {kind: teacher, samples: 256, inputs: 32, outputs: 4, hidden: [32, 32]}\n"
                             "model:\n  layers:\n    - repeat: 4\n      layers:\n"
                             "        - {kind: dense, units: 64, bias: false, init: {W: glorot_normal}}\n"
                             "        - identity\n        - sigmoid\n    - {kind: dense, units: 4}\n"
                             "loss: mse\noptimizer: {kind: sgd, lr: 0.05}\ntraining: {steps: 1, batch_size: 64}\n";
    const RunConfig loaded = loadRunConfig(config, {}, testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("theory_identity.h5");
    REQUIRE(runTraining(loaded, testing::builtinPlugins(), options).status == RunStatus::completed);
    const trace::TraceReader reader(options.output);
    CHECK(reader.integerAttribute("applies", "/theory") == 1);
    CHECK(reader.stringAttribute("activation", "/theory") == "sigmoid");
    CHECK(std::isfinite(reader.doubleAttribute("chi_1", "/theory")));
}

TEST_CASE("a theory that cannot be computed never stops training", "[e2e][theory]") {
    // float32 weights of 5e18: sigma_w^2 overflows float. The run goes on (and diverges: a result, not an error).
    const RunConfig loaded = loadRunConfig(
        std::string(GRADLAB_SOURCE_DIR) + "/configs/deep_sigmoid.yaml",
        {"training.steps=3", "model.layers.0.layers.0.init={W: {kind: constant, value: 5.0e18}}"},
        testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("theory_overflow.h5");
    const RunResult result = runTraining(loaded, testing::builtinPlugins(), options);
    CHECK(result.status != RunStatus::failed);
    const trace::TraceReader reader(options.output);
    CHECK(reader.stringAttribute("status") == toString(result.status));
    REQUIRE(reader.hasGroup("/theory"));
    if (reader.integerAttribute("applies", "/theory") == 0)
        CHECK_THAT(reader.stringAttribute("note", "/theory"), Catch::Matchers::Contains("no mean-field theory"));
}
