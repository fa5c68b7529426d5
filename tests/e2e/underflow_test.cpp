// The regime the tool exists for: gradients that vanish through the subnormal range to exactly 0 in float32
// are traced as what they are (tiny, then 0) and diagnosed as vanishing, never as a divergence.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;

namespace {

RunResult runYaml(const std::string& name, const std::string& yaml, const std::string& output) {
    const std::string config = testing::scratchPath(name + ".yaml");
    std::ofstream(config) << yaml;
    const RunConfig loaded = loadRunConfig(config, {}, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    return runTraining(loaded, testing::builtinPlugins(), options);
}

}  // namespace

TEST_CASE("a 500-layer float32 sigmoid MLP vanishes to 0 and completes with a vanishing verdict", "[e2e][norms]") {
    const std::string output = testing::scratchPath("sigmoid_500.h5");
    const RunResult result = runYaml("sigmoid_500",
                                     "name: sigmoid_500\nprecision: float32\n"
                                     "data: {kind: random_regression, samples: 64, inputs: 16, outputs: 2}\n"
                                     "model:\n  layers:\n    - repeat: 500\n      layers:\n"
                                     "        - {kind: dense, units: 16, activation: sigmoid}\n"
                                     "    - {kind: dense, units: 2}\n"
                                     "loss: mse\noptimizer: {kind: sgd, lr: 0.01}\n"
                                     "training: {steps: 3, batch_size: 16}\ntrace: {snapshot_every: 1}\n",
                                     output);
    REQUIRE(result.status == RunStatus::completed);
    for (const Event& event : result.events) CHECK(event.kind != "non_finite");

    const trace::TraceReader reader(output);
    const Eigen::MatrixXd signal = reader.readMatrix("/trace/signal_grad_norm");
    const Eigen::MatrixXd gradients = reader.readMatrix("/trace/param_grad_norm");
    const Eigen::MatrixXd values = reader.readMatrix("/trace/param_norm");
    REQUIRE(signal.allFinite());
    REQUIRE(gradients.allFinite());
    REQUIRE(values.allFinite());
    CHECK(std::isfinite(reader.readVector("/trace/grad_norm")(0)));
    // The signal passes through the subnormal range (below 1.2e-38) on its way to exactly 0.
    const double subnormal = std::numeric_limits<float>::min();
    bool tiny = false, zero = false;
    for (Eigen::Index layer = 0; layer < signal.cols(); ++layer) {
        tiny = tiny || (signal(0, layer) > 0 && signal(0, layer) < subnormal);
        zero = zero || signal(0, layer) == 0.0;
    }
    CHECK(tiny);
    CHECK(zero);
    INFO("smallest positive traced signal norm at step 0: "
         << (signal.row(0).array() > 0).select(signal.row(0).array(), INFINITY).minCoeff());

    const analysis::Diagnosis diagnosis = analysis::diagnose(output);
    CHECK(analysis::verdictName(diagnosis.verdict) == "vanishing");
    bool vanishingEvent = false;
    for (const analysis::TraceEvent& event : diagnosis.events) vanishingEvent = vanishingEvent || event.kind == "vanishing";
    CHECK(vanishingEvent);
}

TEST_CASE("a weight of 1e-45 has a finite, exact traced norm", "[e2e][norms]") {
    const std::string output = testing::scratchPath("tiny_weight.h5");
    const RunResult result = runYaml("tiny_weight",
                                     "name: tiny_weight\nprecision: float32\n"
                                     "data: {kind: random_regression, samples: 16, inputs: 4, outputs: 2}\n"
                                     "model:\n  layers:\n"
                                     "    - {kind: dense, units: 2, bias: false, init: {W: {kind: constant, "
                                     "value: 1.0e-45}}}\n"
                                     "loss: mse\noptimizer: {kind: sgd, lr: 1.0e-3}\ntraining: {steps: 2, batch_size: 16}\n",
                                     output);
    REQUIRE(result.status == RunStatus::completed);
    const trace::TraceReader reader(output);
    // Step 0's row holds the norm before the first update: 2 x 4 entries of 1.4e-45.
    const double norm = reader.readMatrix("/trace/param_norm")(0, 0);
    const double weight = static_cast<double>(std::numeric_limits<float>::denorm_min());
    CHECK(norm == Approx(std::sqrt(8.0) * weight).epsilon(1e-6));
    CHECK(reader.readMatrix("/trace/param_norm").allFinite());
    CHECK(reader.readMatrix("/trace/update_norm").allFinite());
}
