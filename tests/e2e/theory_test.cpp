// Mean-field theory written by real runs: the prediction sits beside what the trace measures.
#include <catch2/catch.hpp>
#include <cmath>

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
    REQUIRE(runTraining(loaded, testing::builtinPlugins(), options).status == "completed");
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

TEST_CASE("models outside the theory's assumptions get no /theory", "[e2e][theory]") {
    CHECK_FALSE(runAndRead("remedies/residual_50.yaml", "theory_residual.h5").hasGroup("/theory"));
    CHECK_FALSE(runAndRead("remedies/deep_sigmoid_batchnorm.yaml", "theory_bn.h5").hasGroup("/theory"));
}
