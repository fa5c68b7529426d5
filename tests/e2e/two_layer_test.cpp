// End to end: the classic two-layer example run through the real config loader, plugins, trainer and trace
// writer, its HDF5 trace read back and checked against a direct Eigen implementation of the same maths.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/run_config.hpp"
#include "data/dataset.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

const std::string twoLayer = std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml";

RunResult run(const std::vector<std::string>& overrides, const std::string& output) {
    const RunConfig config = loadRunConfig(twoLayer, overrides, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    return runTraining(config, testing::builtinPlugins(), options);
}

double relativeError(double a, double b) { return std::abs(a - b) / std::max(1e-300, std::max(std::abs(a), std::abs(b))); }

double relativeError(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return (a - b).norm() / std::max(1e-300, std::max(a.norm(), b.norm()));
}

}  // namespace

TEST_CASE("the two-layer example trains and its trace follows the schema", "[e2e][trace]") {
    const std::string output = testing::scratchPath("two_layer_e2e.h5");
    const RunResult result = run({"training.steps=30"}, output);
    REQUIRE(result.status == RunStatus::completed);
    CHECK(result.steps == 30);

    trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("schema") == "gradlab-trace");
    CHECK(reader.integerAttribute("schema_version") == 1);
    CHECK(reader.stringAttribute("status") == "completed");
    CHECK(reader.stringAttribute("precision") == "float32");
    CHECK(reader.integerAttribute("seed") == 0);
    CHECK_THAT(reader.stringAttribute("config"), Contains("kind: sgd"));
    CHECK_FALSE(reader.stringAttribute("started_at").empty());
    CHECK_FALSE(reader.stringAttribute("finished_at").empty());

    const auto layers = reader.readStrings("/meta/layer_names");
    const auto kinds = reader.readStrings("/meta/layer_kinds");
    const auto params = reader.readStrings("/meta/param_names");
    CHECK(layers == std::vector<std::string>{"layers.0.dense", "layers.1.relu", "layers.2.dense"});
    CHECK(kinds == std::vector<std::string>{"dense", "activation", "dense"});
    CHECK(params == std::vector<std::string>{"layers.0.dense.W", "layers.2.dense.W"});

    const Eigen::VectorXd steps = reader.readVector("/trace/step");
    REQUIRE(steps.size() == 30);
    CHECK(steps(0) == 0);
    CHECK(steps(29) == 29);
    const Eigen::VectorXd loss = reader.readVector("/trace/loss");
    CHECK(loss(29) < 0.1 * loss(0));
    CHECK(reader.readMatrix("/trace/param_grad_norm").cols() == 2);
    CHECK(reader.readMatrix("/trace/update_norm").rows() == 30);
    const Eigen::MatrixXd signal = reader.readMatrix("/trace/signal_grad_norm");
    REQUIRE(signal.rows() == 30);
    REQUIRE(signal.cols() == 3);
    CHECK((signal.array() > 0).all());
    // The global gradient norm is the norm of the per-parameter norms.
    const Eigen::MatrixXd paramGrad = reader.readMatrix("/trace/param_grad_norm");
    const Eigen::VectorXd gradNorm = reader.readVector("/trace/grad_norm");
    CHECK(relativeError(gradNorm(5), paramGrad.row(5).norm()) < 1e-12);
    // Each update is lr times the gradient for plain SGD.
    const Eigen::MatrixXd update = reader.readMatrix("/trace/update_norm");
    CHECK(relativeError(update(3, 1), 1e-6 * paramGrad(3, 1)) < 1e-5);
    // ReLU output is non-negative; its mean is positive.
    CHECK(reader.readMatrix("/trace/activation_mean")(0, 1) > 0);
    CHECK(reader.readVector("/eval/step")(0) == 29);
}

TEST_CASE("trace.every keeps one row in k, plus the last step", "[e2e][trace]") {
    const std::string output = testing::scratchPath("two_layer_every.h5");
    REQUIRE(run({"training.steps=23", "trace.every=5"}, output).status == RunStatus::completed);
    trace::TraceReader reader(output);
    const Eigen::VectorXd steps = reader.readVector("/trace/step");
    REQUIRE(steps.size() == 6);
    CHECK(steps(4) == 20);
    CHECK(steps(5) == 22);
}

TEST_CASE("tracing off writes no file", "[e2e][trace]") {
    const std::string output = testing::scratchPath("two_layer_off.h5");
    std::filesystem::remove(output);
    const RunResult result = run({"training.steps=5", "trace.enabled=false"}, output);
    CHECK(result.status == RunStatus::completed);
    CHECK(result.output.empty());
    CHECK_FALSE(std::filesystem::exists(output));
}

TEST_CASE("float64 two-layer run agrees with a direct Eigen implementation to 1e-10", "[e2e][reference]") {
    const std::string output = testing::scratchPath("two_layer_reference.h5");
    const int steps = 5;
    REQUIRE(run({"precision=float64", "training.steps=5", "trace.snapshot_every=1"}, output).status ==
            RunStatus::completed);
    trace::TraceReader reader(output);

    // The same data the run drew (seed 0, whole set in order), and its initial weights from the snapshot.
    const data::Dataset data = data::makeRandomRegression(64, 1000, 10, 0);
    const Eigen::MatrixXd& x = data.inputs;   // [1000 x 64]
    const Eigen::MatrixXd& y = data.targets;  // [10 x 64]
    Eigen::MatrixXd w1 = reader.readMatrix("/snapshots/0/layers.0.dense.W/value");  // [100 x 1000]
    Eigen::MatrixXd w2 = reader.readMatrix("/snapshots/0/layers.2.dense.W/value");  // [10 x 100]
    REQUIRE(w1.rows() == 100);
    REQUIRE(w1.cols() == 1000);
    const double learningRate = 1e-6;
    const Eigen::VectorXd tracedLoss = reader.readVector("/trace/loss");

    for (int step = 0; step < steps; ++step) {
        // The seed article's loop, batch as columns.
        const Eigen::MatrixXd h = w1 * x;
        const Eigen::MatrixXd hRelu = h.cwiseMax(0.0);
        const Eigen::MatrixXd prediction = w2 * hRelu;
        const double loss = (prediction - y).squaredNorm();
        const Eigen::MatrixXd gradPrediction = 2.0 * (prediction - y);
        const Eigen::MatrixXd gradW2 = gradPrediction * hRelu.transpose();
        Eigen::MatrixXd gradH = w2.transpose() * gradPrediction;
        gradH = (h.array() < 0).select(0.0, gradH);
        const Eigen::MatrixXd gradW1 = gradH * x.transpose();

        INFO("step " << step);
        CHECK(relativeError(loss, tracedLoss(step)) < 1e-10);
        const std::string prefix = "/snapshots/" + std::to_string(step) + "/";
        CHECK(relativeError(gradW1, reader.readMatrix(prefix + "layers.0.dense.W/grad")) < 1e-10);
        CHECK(relativeError(gradW2, reader.readMatrix(prefix + "layers.2.dense.W/grad")) < 1e-10);
        CHECK(relativeError(w1, reader.readMatrix(prefix + "layers.0.dense.W/value")) < 1e-10);

        w1 -= learningRate * gradW1;
        w2 -= learningRate * gradW2;
    }
}

TEST_CASE("the same config and seed give a bit-identical trace", "[e2e][reproducibility]") {
    const std::string threads = GENERATE(std::string("1"), std::string("2"));
    INFO("threads " << threads);
    const std::string first = testing::scratchPath("repro_a.h5"), second = testing::scratchPath("repro_b.h5");
    REQUIRE(run({"training.steps=15", "training.threads=" + threads}, first).status == RunStatus::completed);
    REQUIRE(run({"training.steps=15", "training.threads=" + threads}, second).status == RunStatus::completed);
    trace::TraceReader a(first), b(second);
    for (const char* path : {"/trace/loss", "/trace/grad_norm"}) CHECK(a.readVector(path) == b.readVector(path));
    for (const char* path : {"/trace/param_grad_norm", "/trace/signal_grad_norm", "/trace/update_norm"})
        CHECK(a.readMatrix(path) == b.readMatrix(path));
    CHECK(a.readMatrix("/model/parameters/layers.0.dense.W") == b.readMatrix("/model/parameters/layers.0.dense.W"));
}

TEST_CASE("a learning rate too large diverges: recorded, not a crash", "[e2e][divergence]") {
    const std::string output = testing::scratchPath("two_layer_diverge.h5");
    const RunResult result = run({"optimizer.lr=1e-2", "training.steps=200"}, output);
    CHECK(result.status == RunStatus::diverged);
    CHECK(result.divergedAt > 0);
    CHECK(result.divergedAt < 200);
    trace::TraceReader reader(output);
    CHECK(reader.stringAttribute("status") == "diverged");
    CHECK_THAT(reader.stringAttribute("status_message"), Contains("at step " + std::to_string(result.divergedAt)));
    const Eigen::VectorXd loss = reader.readVector("/trace/loss");
    REQUIRE(loss.size() == result.divergedAt + 1);
    CHECK_FALSE(std::isfinite(loss(loss.size() - 1)));
    CHECK(std::isfinite(loss(0)));
}

TEST_CASE("clipping and schedules are traced step by step", "[e2e][clipping]") {
    const std::string output = testing::scratchPath("two_layer_clip.h5");
    const RunResult result = run({"training.steps=20", "training.clip={mode: parameter_norm, threshold: 1000}",
                                  "training.schedule={kind: step, step_size: 5, gamma: 0.5}"},
                                 output);
    REQUIRE(result.status == RunStatus::completed);
    trace::TraceReader reader(output);
    const Eigen::VectorXd before = reader.readVector("/trace/grad_norm");
    const Eigen::VectorXd after = reader.readVector("/trace/grad_norm_clipped");
    const Eigen::VectorXd clipped = reader.readVector("/trace/clipped");
    const Eigen::MatrixXd parameterClipped = reader.readMatrix("/trace/param_clipped");
    const Eigen::MatrixXd paramGrad = reader.readMatrix("/trace/param_grad_norm");  // before clipping
    const Eigen::VectorXd lr = reader.readVector("/trace/lr");
    const Eigen::MatrixXd update = reader.readMatrix("/trace/update_norm");
    REQUIRE(before.size() == 20);
    CHECK(before(0) > 1000);
    CHECK(clipped(0) == 1);
    for (int p = 0; p < 2; ++p) {
        INFO("parameter " << p);
        CHECK(parameterClipped(0, p) == (paramGrad(0, p) > 1000 ? 1 : 0));
        // The applied update is lr times the clipped gradient.
        const double clippedNorm = std::min(paramGrad(0, p), 1000.0);
        CHECK(update(0, p) == Approx(lr(0) * clippedNorm).epsilon(1e-4));
    }
    CHECK(after(0) < before(0));
    CHECK(lr(0) == Approx(1e-6));
    CHECK(lr(5) == Approx(0.5e-6));
    CHECK(lr(19) == Approx(0.125e-6));
}
