// End to end: probes observe and never disturb. A run with probes (the built-in jacobian_spectrum and
// gradient_noise, and a test probe that runs train-phase forwards, backwards from a middle layer, loss gradients
// and perturbations) is bit for bit the run without them in every training quantity: every dataset outside
// /probes, the final parameters and batch norm's running statistics (/model) included, with shuffled batches and
// validation.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "gradlab/probe_schema.hpp"
#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
namespace js = probeSchema::jacobianSpectrum;

namespace {

PluginHost& hostWithBusyProbe() {
    static PluginHost* host = [] {
        auto* created = new PluginHost();
        created->loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
        created->loadLibrary(std::string(GRADLAB_TEST_PLUGIN_DIR) + "/busy_probe/libtest_plugin_busy_probe.so");
        return created;
    }();
    return *host;
}

/// Batch norm between tanh layers, Adam, shuffled batches of 16, validation: every kind of training state.
const char* baseConfig = R"(name: probed
seed: 21
precision: float64
data: {kind: teacher, samples: 160, inputs: 6, outputs: 3, hidden: [8], noise: 0.01, validation: 0.25}
model:
  layers:
    - {kind: dense, units: 12}
    - {kind: batchnorm}
    - tanh
    - {kind: dense, units: 12, activation: tanh}
    - {kind: batchnorm}
    - {kind: dense, units: 3}
loss: mse
optimizer: {kind: adam, lr: 3.0e-3}
training: {steps: 40, batch_size: 16, eval_every: 5}
trace: {every: 1, flush_every: 4}
checkpoint: {enabled: false}
)";

const char* probes = R"(probes:
  - {kind: jacobian_spectrum, every: 7, examples: 3, batch: 5, at_end: true}
  - {kind: jacobian_spectrum, name: partial, at: [0, 13, 40], examples: 2, batch: 4, from: [layers.3.dense, layers.4.batchnorm]}
  - {kind: busy_probe, every: 3, batch: 8, from: eval}
  - {kind: gradient_noise, every: 7, batch: 6, phase: eval}
  - {kind: gradient_noise, name: noise_loop, every: 7, batch: 6, phase: eval, method: batch_of_one}
  - {kind: gradient_noise, name: noise_refused, at: [0, 13]}
)";

std::string writeConfig(const std::string& name, const std::string& text) {
    const std::string path = testing::scratchPath(name + ".yaml");
    std::ofstream(path) << text;
    return path;
}

RunResult run(const std::string& config, const std::string& output) {
    const RunConfig loaded = loadRunConfig(config, {}, hostWithBusyProbe());
    RunOptions options;
    options.output = output;
    options.progress = ProgressStyle::none;
    return runTraining(loaded, hostWithBusyProbe(), options);
}

std::vector<std::int64_t> steps(const trace::TraceReader& reader, const std::string& group) {
    return reader.readInt64Vector(group + "/" + probeSchema::stepColumn);
}

}  // namespace

TEST_CASE("a run with probes is bit for bit the run without them", "[e2e][probes]") {
    const std::string plain = testing::scratchPath("unprobed.h5"), probed = testing::scratchPath("probed.h5");
    REQUIRE(run(writeConfig("unprobed", baseConfig), plain).status == RunStatus::completed);
    const RunResult result = run(writeConfig("probed", std::string(baseConfig) + probes), probed);
    REQUIRE(result.status == RunStatus::completed);
    CHECK(result.probeSteps == 20);  // the steps some probe ran at: 0..39 by 7 or by 3, 13, and the end (40)
    CHECK(result.probeSeconds > 0);

    const trace::TraceReader expected(plain), actual(probed);
    const std::vector<std::string> datasets = testing::listDatasets(expected);
    REQUIRE(datasets.size() > 20);
    for (const char* path : {"/model/parameters/layers.0.dense.W", "/model/buffers/layers.1.batchnorm.running_mean",
                              "/eval/loss", "/trace/signal_grad_norm"})
        CHECK(std::find(datasets.begin(), datasets.end(), path) != datasets.end());
    for (const std::string& path : datasets) {
        INFO(path);
        CHECK(testing::datasetBytes(expected, path) == testing::datasetBytes(actual, path));
    }
    for (const std::string& path : testing::listDatasets(actual)) {
        INFO(path);
        CHECK((path.rfind(probeSchema::group, 0) == 0 ||
               std::find(datasets.begin(), datasets.end(), path) != datasets.end()));
    }

    // The schedules: every 7 with at_end; at [0, 13, 40] (40 = after the last update); every 3.
    const std::string spectrum = std::string(probeSchema::group) + "/jacobian_spectrum";
    CHECK(steps(actual, spectrum) == std::vector<std::int64_t>{0, 7, 14, 21, 28, 35, 40});
    CHECK(steps(actual, std::string(probeSchema::group) + "/partial") == std::vector<std::int64_t>{0, 13, 40});
    const std::string partialFrom = std::string(probeSchema::group) + "/partial/" + js::fromGroup + "/layers.3.dense";
    CHECK(steps(actual, partialFrom) == std::vector<std::int64_t>{0, 13, 40});
    CHECK(actual.datasetShape(spectrum + "/" + js::singularValues) == std::vector<hsize_t>{7, 3, 3});
    CHECK(actual.datasetShape(spectrum + "/" + js::quantiles) == std::vector<hsize_t>{7, 3, 7});
    CHECK(actual.datasetShape(partialFrom + "/" + js::singularValues) == std::vector<hsize_t>{3, 2, 3});
    const std::string busy = std::string(probeSchema::group) + "/busy_probe";
    const std::vector<std::int64_t> busySteps = steps(actual, busy);
    REQUIRE(busySteps.size() == 14);
    CHECK(busySteps.back() == 39);
    CHECK(steps(actual, busy + "/middle") == busySteps);
    // The test probe's loss gradient agrees with a central difference of the loss under perturbed parameters
    // (float64), and the training gradient it saw is zero only at 0.
    const Eigen::VectorXd error = actual.readVector(busy + "/loss_gradient_error");
    const Eigen::VectorXd training = actual.readVector(busy + "/training_gradient_norm");
    const Eigen::VectorXd signalOnly = actual.readVector(busy + "/signal_only_difference");
    for (Eigen::Index row = 0; row < error.size(); ++row) {
        INFO("row " << row);
        CHECK(error(row) < 1e-6);
        CHECK(signalOnly(row) == 0.0);  // backwardSignal: the same input gradient, bit for bit
        CHECK((training(row) > 0) == (row > 0));
    }
    CHECK(actual.doubleAttribute("epsilon", busy + "/about") == 1e-5);
    // gradient_noise in eval: from the layers' factors (batch norm's included) and by batch-of-one passes;
    // refused in train, with the note.
    const std::string noise = std::string(probeSchema::group) + "/" + probeSchema::gradientNoise::kind;
    const std::string loop = std::string(probeSchema::group) + "/noise_loop";
    CHECK(steps(actual, noise) == std::vector<std::int64_t>{0, 7, 14, 21, 28, 35});
    CHECK(actual.readVector(noise + "/" + probeSchema::gradientNoise::noiseScale).allFinite());
    CHECK((actual.readVector(noise + "/" + probeSchema::gradientNoise::factored).array() == 1.0).all());
    CHECK(actual.readVector(loop + "/" + probeSchema::gradientNoise::factored).isZero());
    CHECK(actual.readVector(loop + "/" + probeSchema::gradientNoise::noiseScale).allFinite());  // (its own batch)
    const std::string refused = std::string(probeSchema::group) + "/noise_refused";
    CHECK(actual.readVector(refused + "/" + probeSchema::gradientNoise::noiseScale).array().isNaN().all());
    CHECK_THAT(actual.stringAttribute(probeSchema::gradientNoise::note, refused), Contains("couples the samples"));
}

TEST_CASE("the probe summary line says what the probes cost", "[e2e][probes]") {
    const std::string config = writeConfig("summary", std::string(baseConfig) +
                                                          "probes: [{kind: jacobian_spectrum, every: 10, examples: 2, batch: 2}]\n");
    const auto outcome = testing::runGradlab("run " + config + " -o " + testing::scratchPath("summary.h5"));
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("probes") && Contains("over 5 probe steps"));
}

TEST_CASE("bad probe entries are refused naming the entry and what was expected", "[e2e][probes][errors]") {
    const auto [entry, message] = GENERATE(table<std::string, std::string>({
        {"[{kind: jacobian_spektrum, every: 5}]", "did you mean 'jacobian_spectrum'"},
        {"[{kind: jacobian_spectrum}]", "has no schedule"},
        {"[{kind: jacobian_spectrum, at: [41]}]", "after the run's last step"},
        {"[{kind: jacobian_spectrum, every: 5}, {kind: jacobian_spectrum, at_end: true}]", "two probes are named"},
        {"[{kind: jacobian_spectrum, every: 5, name: a/b}]", "cannot be an HDF5 group name"},
        {"[{kind: jacobian_spectrum, every: 5, from: [layers.9.dense]}]", "no layer 'layers.9.dense'"},
        {"[{kind: jacobian_spectrum, every: 5, batch: 500}]", "larger than the training data"},
        {"[{kind: jacobian_spectrum, every: 5, examples: 9, batch: 4}]", "more than the probe batch"},
        {"[{kind: jacobian_spectrum, every: 5, from: test}]", "'test'"},
        {"[{kind: jacobian_spectrum, every: 5, to: layers.3.dens}]", "to: no layer 'layers.3.dens' (did you mean 'layers.3.dense'"},
        {"[{kind: jacobian_spectrum, every: 5, to: layers.2.tanh, from: [layers.3.dense]}]", "is not below the layer the probe ends at"},
        {"[{kind: jacobian_spectrum, every: 5, timesteps: [0]}]", "the network has no recurrent layer"},
        {"[{kind: jacobian_spectrum, every: 5, timesteps: [-1]}]", "timesteps count from 0"},
        {"[{kind: jacobian_spectrum, every: 5, timesteps: 3}]", "expected a list of timesteps"},
    }));
    INFO(entry);
    const std::string config = writeConfig("bad_probe", std::string(baseConfig) + "probes: " + entry + "\n");
    const auto outcome = testing::runGradlab("run " + config + " -q -o " + testing::scratchPath("bad_probe.h5"));
    CHECK(outcome.exitCode != 0);
    CHECK_THAT(outcome.output, Contains(message));
    CHECK_THAT(outcome.output, Contains("bad_probe.yaml") || Contains("probe"));
}
