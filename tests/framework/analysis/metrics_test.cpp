// The headline numbers of a run (RunMetrics) against the trace's datasets read directly.
#include <catch2/catch.hpp>
#include <cmath>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

std::string runShipped(const std::string& config, const std::vector<std::string>& overrides, const std::string& name) {
    const std::string output = testing::scratchPath("metrics_" + name + ".h5");
    const RunConfig loaded =
        loadRunConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/" + config, overrides, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    runTraining(loaded, testing::builtinPlugins(), options);
    return output;
}

}  // namespace

TEST_CASE("metrics: eval losses, accuracy and signal ratios are what the trace holds", "[analysis][metrics]") {
    const std::string path =
        runShipped("spirals.yaml", {"training.epochs=null", "training.steps=60", "training.eval_every=20", "trace.every=7"},
                   "spirals");
    const trace::TraceReader reader(path);
    const analysis::Diagnosis diagnosis = analysis::diagnose(path);
    const analysis::RunMetrics& metrics = diagnosis.metrics;
    const Eigen::VectorXd eval = reader.readVector("/eval/loss");
    REQUIRE(eval.size() == 4);  // steps 0, 20, 40 and the last
    CHECK(metrics.finalEvalLoss == eval(3));
    CHECK(metrics.bestEvalLoss == eval.minCoeff());
    CHECK(metrics.finalEvalAccuracy == reader.readVector("/eval/accuracy")(3));
    const Eigen::MatrixXd signal = reader.readMatrix("/trace/signal_grad_norm");
    CHECK(metrics.signalRatioInit == signal(0, 0) / signal(0, signal.cols() - 1));
    CHECK(metrics.signalRatioFinal == signal(signal.rows() - 1, 0) / signal(signal.rows() - 1, signal.cols() - 1));
    CHECK(metrics.finalTrainLoss == reader.readVector("/trace/loss")(signal.rows() - 1));
    CHECK(std::isnan(metrics.timestepRatioInit));
    CHECK(metrics.divergedAt == -1);
    const std::string line = analysis::formatMetrics(metrics);
    CHECK_THAT(line, Contains("eval loss "));
    CHECK_THAT(line, Contains("eval accuracy "));
    CHECK_THAT(analysis::formatText(diagnosis), Contains("  metrics     eval loss"));
    CHECK_THAT(analysis::formatJson(diagnosis), Contains("\"signal_ratio_init\": "));
}

TEST_CASE("metrics: the first recurrent layer's timestep ratio at the first and last traced step", "[analysis][metrics]") {
    const std::string path = runShipped("recurrent/adding_rnn.yaml",
                                        {"data.samples=256", "data.timesteps=20", "training.steps=5"}, "rnn");
    const trace::TraceReader reader(path);
    const analysis::RunMetrics metrics = analysis::diagnose(path).metrics;
    const Eigen::MatrixXd norms = reader.readMatrix("/trace/timestep_grad_norm/layers.0.rnn");
    REQUIRE(norms.cols() == 20);
    CHECK(metrics.timestepRatioInit == norms(0, 0) / norms(0, 19));
    CHECK(metrics.timestepRatioFinal == norms(norms.rows() - 1, 0) / norms(norms.rows() - 1, 19));
    CHECK_THAT(analysis::formatMetrics(metrics), Contains("timestep ratio "));
}

TEST_CASE("metrics: a diverged run says where", "[analysis][metrics]") {
    const std::string path = runShipped("remedies/rnn_exploding.yaml", {}, "diverged");
    const analysis::RunMetrics metrics = analysis::diagnose(path).metrics;
    CHECK(metrics.divergedAt == 1);
    CHECK_THAT(analysis::formatMetrics(metrics), Contains("diverged at step 1"));
}
