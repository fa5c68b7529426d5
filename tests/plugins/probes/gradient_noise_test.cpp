// The gradient_noise probe (plugins/probes/gradient_noise.cpp) against an independent batch-of-one loop, through
// real runs in float64: the network is rebuilt here from the run's config and its snapshot at the probe step,
// each sample's gradient taken by a forward and backward of that sample alone with its own loss, and every
// statistic computed from those gradients by its definition (centred variances, cosines of explicit vectors),
// none of the probe's formulas. Dense, activation, residual (projection, scalar gate) and recurrent layers, mse
// and sse; the factored path against the probe's own batch-of-one path; batch norm refused in the train phase
// (note and NaN) and measured in the eval phase; training untouched.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "data/data_shape.hpp"
#include "data/dataset.hpp"
#include "data/make_dataset.hpp"
#include "gradlab/probe_schema.hpp"
#include "model/loss.hpp"
#include "model/network.hpp"
#include "support/plugin_fixture.hpp"
#include "support/run_fixture.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
namespace gn = probeSchema::gradientNoise;

namespace {

using testing::runConfig;

/// The statistics of the probe's tables at one probe step, computed by definition from per-sample gradients.
struct Expected {
    Eigen::VectorXd gradNorm, meanSampleGradNorm, sampleGradSqSum, covTrace, gsnr;
    double modelGradNorm = 0, modelSampleGradSqSum = 0, modelCovTrace = 0, modelGsnr = 0, noiseScale = 0,
           confusion = 0;
};

/// Per-sample gradients of the run `name` (its config with `overrides`) at probe step `step`, one column per
/// training sample (the probe's `batch: all`), parameters stacked in /meta/param_names order; `sizes` their sizes.
Eigen::MatrixXd sampleGradients(const std::string& name, const std::vector<std::string>& overrides,
                                const trace::TraceReader& reader, std::int64_t step, Phase phase,
                                std::vector<Index>& sizes) {
    const RunConfig config = loadRunConfig(testing::scratchPath(name + ".yaml"), overrides, testing::builtinPlugins());
    data::Dataset test;
    const data::Dataset all = data::makeDataset(config.data, test);
    const data::Dataset train = data::splitValidation(all, config.data.validation, config.data.seed).train;
    Random random(1);
    auto network = buildNetwork<double>(config, dataShape(train), testing::builtinPlugins(), random);
    const std::string at = "/snapshots/" + std::to_string(step) + "/";
    Index size = 0;
    sizes.clear();
    for (const auto& parameter : network->parameters()) {
        parameter.parameter->value = reader.readMatrix(at + parameter.name + "/value");
        sizes.push_back(parameter.parameter->value.size());
        size += sizes.back();
    }
    auto loss = makeLoss<double>(config.loss.kind, config.loss.fromLogits);
    const Index samples = train.samples();
    const Index inputRows = train.inputs.rows() / train.timesteps;
    const Index targetRows = train.targets.rows() / train.targetTimesteps;
    Eigen::MatrixXd gradients(size, samples);
    for (Index i = 0; i < samples; ++i) {
        Eigen::MatrixXd x(inputRows, train.timesteps), y(targetRows, train.targetTimesteps);
        for (Index t = 0; t < train.timesteps; ++t) x.col(t) = train.inputs.block(t * inputRows, i, inputRows, 1);
        for (Index t = 0; t < train.targetTimesteps; ++t)
            y.col(t) = train.targets.block(t * targetRows, i, targetRows, 1);
        const Eigen::MatrixXd prediction = network->forward(x, phase);
        loss->evaluate(prediction, y, network->outputGradient());
        network->backward(x, true);
        Index offset = 0;
        for (const auto& parameter : network->parameters()) {
            const auto& g = parameter.parameter->grad;
            gradients.col(i).segment(offset, g.size()) = Eigen::Map<const Eigen::VectorXd>(g.data(), g.size());
            offset += g.size();
        }
    }
    return gradients;
}

/// The statistics by definition (docs/theory.md, "Per-sample gradient statistics").
Expected statistics(const Eigen::MatrixXd& gradients, const std::vector<Index>& sizes) {
    const Index samples = gradients.cols();
    const double count = static_cast<double>(samples);
    const Index parameters = static_cast<Index>(sizes.size());
    Expected e;
    e.gradNorm.resize(parameters);
    e.meanSampleGradNorm.resize(parameters);
    e.sampleGradSqSum.resize(parameters);
    e.covTrace.resize(parameters);
    e.gsnr.resize(parameters);
    double ratioSum = 0, ratioCount = 0;
    Index offset = 0;
    for (Index p = 0; p < parameters; ++p) {
        const Eigen::MatrixXd block = gradients.middleRows(offset, sizes[static_cast<std::size_t>(p)]);
        offset += block.rows();
        const Eigen::VectorXd mean = block.rowwise().mean();
        e.gradNorm(p) = mean.norm();
        double norms = 0, squares = 0, trace = 0;
        for (Index i = 0; i < samples; ++i) {
            norms += block.col(i).norm();
            squares += block.col(i).squaredNorm();
            trace += (block.col(i) - mean).squaredNorm();
        }
        e.meanSampleGradNorm(p) = norms / count;
        e.sampleGradSqSum(p) = squares;
        e.covTrace(p) = trace / (count - 1);
        double ratios = 0, counted = 0;
        for (Index j = 0; j < block.rows(); ++j) {
            const double variance = (block.row(j).array() - mean(j)).square().sum() / (count - 1);
            if (variance == 0) continue;
            ratios += mean(j) * mean(j) / variance;
            ++counted;
        }
        e.gsnr(p) = counted > 0 ? ratios / counted : std::numeric_limits<double>::quiet_NaN();
        ratioSum += ratios;
        ratioCount += counted;
        e.modelSampleGradSqSum += squares;
        e.modelCovTrace += e.covTrace(p);
    }
    const Eigen::VectorXd mean = gradients.rowwise().mean();
    e.modelGradNorm = mean.norm();
    e.modelGsnr = ratioSum / ratioCount;
    e.noiseScale = e.modelCovTrace / mean.squaredNorm();
    e.confusion = 2;
    for (Index i = 0; i < samples; ++i)
        for (Index j = 0; j < samples; ++j)
            if (i != j)
                e.confusion = std::min(e.confusion, gradients.col(i).dot(gradients.col(j)) /
                                                        (gradients.col(i).norm() * gradients.col(j).norm()));
    return e;
}

void checkClose(double actual, double expected, const std::string& what, double tolerance = 1e-12) {
    INFO(what << ": probe " << actual << ", loop " << expected);
    CHECK(std::abs(actual - expected) <= tolerance * std::abs(expected));
}

/// Every table of probe `probe` at row `row` against `e`.
void checkRow(const trace::TraceReader& reader, const std::string& probe, Index row, const Expected& e) {
    const std::string group = std::string(probeSchema::group) + "/" + probe + "/";
    const auto perParameter = [&](const char* table, const Eigen::VectorXd& expected) {
        const Eigen::MatrixXd values = reader.readMatrix(group + table);
        REQUIRE(values.cols() == expected.size());
        for (Index p = 0; p < expected.size(); ++p)
            checkClose(values(row, p), expected(p), std::string(table) + " of parameter " + std::to_string(p));
    };
    const auto model = [&](const char* table, double expected, double tolerance = 1e-12) {
        checkClose(reader.readVector(group + table)(row), expected, table, tolerance);
    };
    perParameter(gn::gradNorm, e.gradNorm);
    perParameter(gn::meanSampleGradNorm, e.meanSampleGradNorm);
    perParameter(gn::sampleGradSqSum, e.sampleGradSqSum);
    perParameter(gn::covTrace, e.covTrace);
    perParameter(gn::gsnr, e.gsnr);
    model(gn::modelGradNorm, e.modelGradNorm);
    model(gn::modelSampleGradSqSum, e.modelSampleGradSqSum);
    model(gn::modelCovTrace, e.modelCovTrace);
    model(gn::modelGsnr, e.modelGsnr);
    model(gn::noiseScale, e.noiseScale);
    model(gn::confusion, e.confusion);
}

/// Runs `yaml` with two gradient_noise probes on the whole training set at steps 0 and 3 (0 only with
/// `initOnly`), `auto` and `batch_of_one`, and checks both against the loop at each; `factored` is what `auto`
/// should report.
void checkAgainstLoop(const std::string& name, const std::string& yaml, const std::vector<std::string>& overrides,
                      bool factored, const std::string& phase = "train", bool initOnly = false) {
    const std::string at = initOnly ? "[0]" : "[0, 3]";
    const std::string probes = "probes=[{kind: gradient_noise, at: " + at + ", batch: all, phase: " + phase +
                               "}, {kind: gradient_noise, name: loop, at: " + at + ", batch: all, phase: " + phase +
                               ", method: batch_of_one}]";
    std::vector<std::string> all = overrides;
    all.push_back(probes);
    const trace::TraceReader reader(runConfig(name, yaml, all));
    for (Index row = 0; row < (initOnly ? 1 : 2); ++row) {
        const std::int64_t step = row == 0 ? 0 : 3;
        INFO(name << " at step " << step);
        std::vector<Index> sizes;
        const Eigen::MatrixXd gradients =
            sampleGradients(name, all, reader, step, phase == "eval" ? Phase::eval : Phase::train, sizes);
        const Expected e = statistics(gradients, sizes);
        REQUIRE(e.modelGradNorm > 0);
        REQUIRE(e.confusion < 1);
        for (const char* probe : {"gradient_noise", "loop"}) {
            INFO("probe " << probe);
            checkRow(reader, probe, row, e);
            const std::string group = std::string(probeSchema::group) + "/" + probe + "/";
            CHECK(reader.readVector(group + gn::samples)(row) == static_cast<double>(gradients.cols()));
            CHECK(reader.readVector(group + gn::factored)(row) == (std::string(probe) == "loop" ? 0.0 : factored ? 1.0 : 0.0));
            CHECK(reader.readVector(group + gn::seconds)(row) > 0);
            CHECK(reader.stringAttribute(gn::note, std::string(probeSchema::group) + "/" + probe).empty());
        }
    }
}

const char* denseConfig = R"(name: noise_dense
seed: 5
precision: float64
data: {kind: teacher, samples: 12, inputs: 4, outputs: 3, hidden: [5], noise: 0.2}
model:
  layers:
    - {kind: dense, units: 6, activation: tanh}
    - relu
    - {kind: dense, units: 5, activation: sigmoid}
    - {kind: dense, units: 3}
loss: mse
optimizer: {kind: sgd, lr: 0.1}
training: {steps: 4, batch_size: 6}
trace: {every: 1, snapshot_every: 1}
)";

const char* residualConfig = R"(name: noise_residual
seed: 8
precision: float64
data: {kind: teacher, samples: 10, inputs: 4, outputs: 2, hidden: [5], noise: 0.2}
model:
  layers:
    - {kind: residual, layers: [{kind: dense, units: 6, activation: tanh}, {kind: dense, units: 6}]}
    - {kind: residual, gate: scalar, gate_init: 0.5, layers: [tanh, {kind: dense, units: 6}]}
    - {kind: dense, units: 2}
loss: mse
optimizer: {kind: sgd, lr: 0.1}
training: {steps: 4, batch_size: 5}
trace: {every: 1, snapshot_every: 1}
)";

const char* recurrentConfig = R"(name: noise_rnn
seed: 4
precision: float64
data: {kind: noisy_sine, samples: 9, timesteps: 5}
model:
  layers:
    - {kind: rnn, units: 4, return_sequences: true}
    - {kind: dense, units: 1}
loss: mse
optimizer: {kind: sgd, lr: 0.05}
training: {steps: 4, batch_size: 3}
trace: {every: 1, snapshot_every: 1}
)";

const char* batchNormConfig = R"(name: noise_batchnorm
seed: 6
precision: float64
data: {kind: teacher, samples: 12, inputs: 4, outputs: 2, hidden: [5], noise: 0.2}
model:
  layers:
    - {kind: dense, units: 6}
    - {kind: batchnorm}
    - tanh
    - {kind: dense, units: 2}
loss: mse
optimizer: {kind: sgd, lr: 0.1}
training: {steps: 4, batch_size: 6}
trace: {every: 1, snapshot_every: 1}
)";

}  // namespace

TEST_CASE("gradient_noise: dense and activation layers match a batch-of-one loop, mse and sse, factored",
          "[probes][gradient_noise]") {
    checkAgainstLoop("noise_dense_mse", denseConfig, {}, true);
    checkAgainstLoop("noise_dense_sse", denseConfig, {"loss=sse"}, true);
}

TEST_CASE("gradient_noise: residual blocks (projection, scalar gate) match a batch-of-one loop, factored",
          "[probes][gradient_noise]") {
    checkAgainstLoop("noise_residual_mse", residualConfig, {}, true);
    checkAgainstLoop("noise_residual_sse", residualConfig, {"loss=sse"}, true);
}

TEST_CASE("gradient_noise: a recurrent layer (a sequence is a sample) matches a batch-of-one loop",
          "[probes][gradient_noise]") {
    checkAgainstLoop("noise_rnn_mse", recurrentConfig, {}, false);
    checkAgainstLoop("noise_rnn_sse", recurrentConfig, {"loss=sse"}, false);
}

TEST_CASE("gradient_noise: batch norm is refused in the train phase and measured in the eval phase",
          "[probes][gradient_noise]") {
    const trace::TraceReader reader(runConfig(
        "noise_batchnorm_train", batchNormConfig, {"probes=[{kind: gradient_noise, at: [0, 2], batch: 8}]"}));
    const std::string group = std::string(probeSchema::group) + "/gradient_noise";
    const std::string note = reader.stringAttribute(gn::note, group);
    CHECK_THAT(note, Catch::Matchers::Contains("layers.1.batchnorm couples the samples") &&
                         Catch::Matchers::Contains("phase: eval"));
    for (const char* table : {gn::gradNorm, gn::sampleGradSqSum, gn::covTrace, gn::gsnr})
        CHECK(reader.readMatrix(group + "/" + table).array().isNaN().all());
    for (const char* table : {gn::modelGradNorm, gn::noiseScale, gn::confusion, gn::modelGsnr, gn::factored})
        CHECK(reader.readVector(group + "/" + table).array().isNaN().all());
    CHECK(reader.readVector(group + "/" + gn::samples) == Eigen::Vector2d(8, 8));
    // In eval, at initialisation (running statistics 0 and 1, as the rebuilt network has them; snapshots hold
    // no buffers): the loop's numbers, from batch norm's factors in eval (g_i(gamma) = dy_i o xhat_i, g_i(beta) =
    // dy_i) and from batch-of-one passes alike.
    checkAgainstLoop("noise_batchnorm_eval", batchNormConfig, {}, true, "eval", true);
}

TEST_CASE("gradient_noise: a run with the probe is bit-identical in every training quantity to the run without it",
          "[probes][gradient_noise][e2e]") {
    // float32, probe batches drawn from the training data, both paths, every step.
    const std::string without = runConfig("noise_without", denseConfig, {"precision=float32", "probes=null"});
    const std::string with = runConfig(
        "noise_with", denseConfig,
        {"precision=float32", "probes=[{kind: gradient_noise, every: 1, batch: 7}, {kind: gradient_noise, name: loop, "
                              "every: 1, batch: 5, method: batch_of_one}]"});
    const trace::TraceReader a(without), b(with);
    const std::vector<std::string> names = testing::listDatasets(a);
    REQUIRE(names.size() > 10);
    for (const std::string& name : names) {
        INFO(name);
        CHECK(testing::datasetBytes(a, name) == testing::datasetBytes(b, name));
    }
    const std::string group = std::string(probeSchema::group) + "/gradient_noise/";
    CHECK(b.readVector(group + gn::noiseScale).allFinite());
    CHECK(b.readVector(group + gn::factored).isOnes());
    CHECK(b.readMatrix(group + gn::gsnr).rows() == 5);  // steps 0..4, 4 after the last update
}

TEST_CASE("gradient_noise: a probe batch of one sample is refused with the reason", "[probes][gradient_noise]") {
    const std::string config = testing::scratchPath("noise_one.yaml");
    std::ofstream(config) << denseConfig;
    const RunConfig loaded = loadRunConfig(
        config, {"probes=[{kind: gradient_noise, at_init: true, batch: 1}]", "output=" + testing::scratchPath("noise_one.h5")},
        testing::builtinPlugins());
    const RunResult result = runTraining(loaded, testing::builtinPlugins(), RunOptions{});
    CHECK(result.status == RunStatus::failed);
    CHECK_THAT(result.message, Catch::Matchers::Contains("probe 'gradient_noise' at step 0") &&
                                   Catch::Matchers::Contains("batch: 2 or more"));
}
