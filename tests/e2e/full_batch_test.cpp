// End to end: `training.batch_size: all` is full-batch gradient descent. Every step's gradient is the gradient of
// the loss over the whole training set, recomputed here from the training samples and the step's parameters (a
// linear model under MSE, without the framework's loss or layer code); the run equals one with the training set's
// size as batch size and no shuffling, bit for bit, and the shuffle setting changes nothing.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "config/run_config.hpp"
#include "data/dataset.hpp"
#include "data/make_dataset.hpp"
#include "support/plugin_fixture.hpp"
#include "support/run_fixture.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;

namespace {

const char* fullBatchConfig = R"(name: full_batch
seed: 4
precision: float64
data: {kind: teacher, samples: 250, inputs: 6, outputs: 3, hidden: [5], noise: 0.1, validation: 0.2}
model:
  layers: [{kind: dense, units: 3}]
loss: mse
optimizer: {kind: sgd, lr: 0.05}
training: {steps: 12, batch_size: all}
trace: {every: 1, snapshot_every: 1}
)";

std::string runWith(const std::string& name, const std::vector<std::string>& overrides) {
    return testing::runConfig(name, fullBatchConfig, overrides);
}

}  // namespace

TEST_CASE("batch_size all: each step's gradient is the whole training set's, recomputed by hand",
          "[e2e][full_batch]") {
    const std::string trace = runWith("full_batch", {});
    const std::string config = testing::scratchPath("full_batch.yaml");
    const RunConfig loaded = loadRunConfig(config, {}, testing::builtinPlugins());
    CHECK(loaded.training.fullBatch);
    data::Dataset test;
    const data::Dataset all = data::makeDataset(loaded.data, test);
    const data::Dataset train = data::splitValidation(all, loaded.data.validation, loaded.data.seed).train;
    REQUIRE(train.samples() == 200);
    const Eigen::MatrixXd& x = train.inputs;   // [6 x 200]
    const Eigen::MatrixXd& y = train.targets;  // [3 x 200]
    const trace::TraceReader reader(trace);
    const Eigen::VectorXd losses = reader.readVector("/trace/loss");
    REQUIRE(losses.size() == 12);
    for (int step = 0; step < 12; ++step) {
        INFO("step " << step);
        const std::string at = "/snapshots/" + std::to_string(step) + "/layers.0.dense.";
        const Eigen::MatrixXd W = reader.readMatrix(at + "W/value");
        const Eigen::MatrixXd b = reader.readMatrix(at + "b/value");
        // MSE over every element of the whole training set, and its gradient.
        const Eigen::MatrixXd error = (W * x).colwise() + b.col(0) - y;
        const double elements = static_cast<double>(error.size());
        CHECK(losses(step) == Approx(error.squaredNorm() / elements).epsilon(1e-13));
        const Eigen::MatrixXd gradW = 2.0 / elements * error * x.transpose();
        const Eigen::VectorXd gradB = 2.0 / elements * error.rowwise().sum();
        CHECK((reader.readMatrix(at + "W/grad") - gradW).norm() <= 1e-13 * gradW.norm());
        CHECK((reader.readMatrix(at + "b/grad").col(0) - gradB).norm() <= 1e-13 * gradB.norm());
    }
    CHECK(losses(11) < losses(0));
}

TEST_CASE("batch_size all equals the training set's size without shuffling, bit for bit, shuffled or not",
          "[e2e][full_batch]") {
    const std::string full = runWith("full_batch_all", {"trace.snapshot_every=0"});
    const std::string unshuffled = runWith("full_batch_all_unshuffled", {"trace.snapshot_every=0", "data.shuffle=false"});
    const std::string sized =
        runWith("full_batch_200", {"trace.snapshot_every=0", "training.batch_size=200", "data.shuffle=false"});
    const trace::TraceReader a(full), b(sized), u(unshuffled);
    for (const std::string& name : testing::listDatasets(a)) {
        INFO(name);
        CHECK(testing::datasetBytes(a, name) == testing::datasetBytes(u, name));
    }
    CHECK(testing::datasetBytes(a, "/trace/loss") == testing::datasetBytes(b, "/trace/loss"));
    CHECK(testing::datasetBytes(a, "/model/parameters/layers.0.dense.W") ==
          testing::datasetBytes(b, "/model/parameters/layers.0.dense.W"));
    // A shuffled batch of the same size only reorders the sums: close, not necessarily equal.
    const std::string shuffled = runWith("full_batch_200_shuffled", {"trace.snapshot_every=0", "training.batch_size=200"});
    const trace::TraceReader c(shuffled);
    const Eigen::VectorXd reference = a.readVector("/trace/loss"), reordered = c.readVector("/trace/loss");
    CHECK((reference - reordered).cwiseAbs().maxCoeff() <= 1e-12 * reference.cwiseAbs().maxCoeff());
}

TEST_CASE("batch_size all in the config: resolved as written, epochs count steps, a misspelling suggests it",
          "[config][full_batch]") {
    const std::string config = testing::scratchPath("full_batch_epochs.yaml");
    std::ofstream(config) << fullBatchConfig;
    const RunConfig epochs =
        loadRunConfig(config, {"training.steps=null", "training.epochs=7"}, testing::builtinPlugins());
    CHECK(epochs.training.fullBatch);
    CHECK(epochs.training.steps == 7);
    CHECK(epochs.resolvedYaml.find("batch_size: all") != std::string::npos);
    CHECK_THROWS_WITH(loadRunConfig(config, {"training.batch_size=al"}, testing::builtinPlugins()),
                      Catch::Matchers::Contains("training.batch_size") &&
                          Catch::Matchers::Contains("expected a sample count or 'all'") &&
                          Catch::Matchers::Contains("did you mean 'all'?"));
    CHECK_THROWS_WITH(loadRunConfig(config, {"training.batch_size=0"}, testing::builtinPlugins()),
                      Catch::Matchers::Contains("expected an integer in [1,"));
}
