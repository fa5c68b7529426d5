// Recurrent models end to end: per-timestep gradient traces, gate statistics, spectral norms, masked
// all-step losses, the exploding RNN against its clipped remedy, and faults located by timestep.
#include <catch2/catch.hpp>
#include <fstream>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

const std::string configFolder = std::string(GRADLAB_SOURCE_DIR) + "/configs/";

RunResult runConfig(const std::string& file, const std::vector<std::string>& overrides, const std::string& output,
                    PluginHost& host = testing::builtinPlugins()) {
    const RunConfig config = loadRunConfig(file, overrides, host);
    RunOptions options;
    options.output = output;
    return runTraining(config, host, options);
}

}  // namespace

TEST_CASE("an LSTM on the adding problem traces dL/dh_t for every timestep", "[e2e][recurrent]") {
    const std::string output = testing::scratchPath("adding_lstm.h5");
    const RunResult result = runConfig(configFolder + "recurrent/adding_lstm.yaml",
                                       {"data.samples=256", "data.timesteps=20", "training.steps=6", "trace.every=2"},
                                       output);
    REQUIRE(result.status == RunStatus::completed);
    trace::TraceReader reader(output);
    const Eigen::MatrixXd perStep = reader.readMatrix("/trace/timestep_grad_norm/layers.0.lstm");
    REQUIRE(perStep.rows() == 4);  // every=2 over 6 steps: 0, 2, 4 and the last, 5
    REQUIRE(perStep.cols() == 20);
    CHECK((perStep.array() > 0).all());
    // The loss sits on the last step: the gradient reaching h_t shrinks going back from it.
    CHECK(perStep(0, 0) < perStep(0, 19));
    const Eigen::VectorXd forget = reader.readVector("/trace/forget_gate_mean/layers.0.lstm");
    CHECK(forget.size() == perStep.rows());
    CHECK(forget(0) > 0.5);  // forget bias 1 at initialisation
    const Eigen::MatrixXd spectral = reader.readMatrix("/trace/recurrent_spectral_norm/layers.0.lstm");
    REQUIRE(spectral.cols() == 4);
    CHECK(spectral(0, 0) == Approx(1.0).epsilon(1e-3));  // orthogonal W_hi
}

TEST_CASE("next-step prediction trains on every timestep", "[e2e][recurrent]") {
    const std::string output = testing::scratchPath("sine_gru.h5");
    const RunResult result = runConfig(configFolder + "remedies/rnn_clipping.yaml",
                                       {"model.layers.0.kind=gru", "model.layers.0.activation=null",
                                        "model.layers.0.init=null", "training.steps=60", "optimizer.lr=0.05"},
                                       output);
    REQUIRE(result.status == RunStatus::completed);
    CHECK(result.lastLoss < result.firstLoss);
}

TEST_CASE("the exploding RNN diverges and its clipped remedy does not", "[e2e][recurrent][clipping]") {
    const RunResult exploding = runConfig(configFolder + "remedies/rnn_exploding.yaml", {}, testing::scratchPath("rx.h5"));
    CHECK(exploding.status == RunStatus::diverged);
    REQUIRE_FALSE(exploding.events.empty());
    CHECK(exploding.events.front().kind == "non_finite");
    CHECK(exploding.events.front().timestep >= 0);

    const std::string output = testing::scratchPath("rc.h5");
    const RunResult clipped = runConfig(configFolder + "remedies/rnn_clipping.yaml", {"training.steps=100"}, output);
    CHECK(clipped.status == RunStatus::completed);
    trace::TraceReader reader(output);
    CHECK(reader.readVector("/trace/clipped")(0) == 1);
    CHECK(reader.readVector("/trace/grad_norm")(0) > 1e3);
    CHECK(reader.readVector("/trace/grad_norm_clipped")(0) == Approx(1.0));
    CHECK(reader.readMatrix("/trace/recurrent_spectral_norm/layers.0.rnn")(0, 0) == Approx(1.6).epsilon(1e-3));
}

TEST_CASE("a NaN planted at one timestep is located at that timestep", "[e2e][recurrent][detectors]") {
    PluginHost host;
    host.loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    host.loadLibrary(std::string(GRADLAB_TEST_PLUGIN_DIR) + "/fault_injection/libtest_plugin_fault_injection.so");
    const std::string config = testing::scratchPath("fault_rnn.yaml");
    std::ofstream(config) << "data: {kind: noisy_sine, samples: 64, timesteps: 12}\n"
                             "model:\n  layers:\n"
                             "    - {kind: rnn, units: 4, return_sequences: true}\n"
                             "    - {kind: fault, phase: forward, call: 2, timestep: 7}\n"
                             "    - {kind: dense, units: 1}\n"
                             "optimizer: {kind: sgd, lr: 0.01}\n"
                             "training: {steps: 5, batch_size: 8}\n";
    const RunResult result = runConfig(config, {}, testing::scratchPath("fault_rnn.h5"), host);
    REQUIRE(result.status == RunStatus::diverged);
    REQUIRE(result.events.size() == 1);
    CHECK(result.events[0].where == "forward layers.1.fault");
    CHECK(result.events[0].timestep == 7);
    CHECK_THAT(result.message, Contains("timestep 7"));
}

TEST_CASE("a recurrent layer on non-sequence data runs as T = 1 with a warning, its per-timestep trace 2-D",
          "[e2e][recurrent]") {
    const std::string config = testing::scratchPath("rnn_flat.yaml");
    std::ofstream(config) << "name: rnn_flat\ndata: {kind: random_regression, samples: 32, inputs: 5, outputs: 2}\n"
                             "model:\n  layers:\n    - {kind: rnn, units: 8}\n    - {kind: dense, units: 2}\n"
                             "loss: mse\noptimizer: {kind: sgd, lr: 0.01}\ntraining: {steps: 3, batch_size: 8}\n";
    const std::string output = testing::scratchPath("rnn_flat.h5");
    const RunResult result = runConfig(config, {}, output);
    REQUIRE(result.status == RunStatus::completed);
    CHECK_THAT(result.note, Contains("warning: layers.0.rnn is recurrent, but data kind 'random_regression'"));
    trace::TraceReader reader(output);
    const std::vector<hsize_t> shape = reader.datasetShape("/trace/timestep_grad_norm/layers.0.rnn");
    REQUIRE(shape.size() == 2);  // [S x T] as the schema promises, T = 1
    CHECK(shape[0] == 3);
    CHECK(shape[1] == 1);
}
