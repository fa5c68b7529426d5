// The hessian probe (plugins/probes/hessian.cpp) against independent computations, through real runs:
// - a linear least-squares model under mse, whose Hessian is known in closed form: with x~ = [x; 1] and the loss
//   L = ||W X + b 1^T - Y||^2 / (n o) (model/loss.cpp: the mean over the n o target elements), the Hessian with
//   respect to row r of [W b] is (2 / (n o)) X~ X~^T, the same for every output row and zero across rows;
// - a small tanh net against the Hessian built here from second differences of the loss alone (the net and the
//   loss written out in long double, no gradient code);
// - training untouched: every dataset of a run with the probe equals the run without it, bit for bit.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

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

using testing::runConfig;

/// The training set a config's run trains on.
data::Dataset trainingSet(const std::string& name) {
    const RunConfig loaded = loadRunConfig(testing::scratchPath(name + ".yaml"), {}, testing::builtinPlugins());
    data::Dataset test;
    const data::Dataset all = data::makeDataset(loaded.data, test);
    return data::splitValidation(all, loaded.data.validation, loaded.data.seed).train;
}

/// Eigenvalues of a symmetric matrix, descending.
Eigen::VectorXd descending(const Eigen::MatrixXd& symmetric) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(symmetric);
    return solver.eigenvalues().reverse();
}

const char* linearConfig = R"(name: hessian_linear
seed: 3
precision: float64
data: {kind: random_regression, samples: 40, inputs: 5, outputs: 1}
model:
  layers: [{kind: dense, units: 1}]
loss: mse
optimizer: {kind: sgd, lr: 0.05}
training: {steps: 4, batch_size: all, schedule: {kind: step, step_size: 2, gamma: 0.5}}
trace: {every: 1}
probes: [{kind: hessian, every: 1, batch: all, top: 3, bottom: 2, trace_samples: 5}]
)";

}  // namespace

TEST_CASE("hessian: a linear least-squares model's eigenvalues are those of 2 X~ X~^T / (n o)",
          "[probes][hessian]") {
    const std::string trace = runConfig("hessian_linear", linearConfig);
    const data::Dataset train = trainingSet("hessian_linear");
    const Index n = train.samples();
    REQUIRE(n == 40);
    Eigen::MatrixXd augmented(train.inputs.rows() + 1, n);
    augmented << train.inputs, Eigen::RowVectorXd::Ones(n);
    const Eigen::MatrixXd hessian = 2.0 / static_cast<double>(n) * augmented * augmented.transpose();
    const Eigen::VectorXd exact = descending(hessian);  // 6 values: 5 weights and the bias
    const trace::TraceReader reader(trace);
    const Eigen::MatrixXd top = reader.readMatrix("/probes/hessian/eigenvalues");
    const Eigen::MatrixXd bottom = reader.readMatrix("/probes/hessian/bottom_eigenvalues");
    const Eigen::VectorXd estimate = reader.readVector("/probes/hessian/trace");
    const Eigen::VectorXd stderror = reader.readVector("/probes/hessian/trace_stderr");
    const Eigen::VectorXd rate = reader.readVector("/probes/hessian/learning_rate");
    const Eigen::VectorXd twoOverRate = reader.readVector("/probes/hessian/two_over_lr");
    const Eigen::VectorXd converged = reader.readVector("/probes/hessian/converged");
    REQUIRE(top.rows() == 5);  // after 0, 1, 2, 3 and 4 updates
    REQUIRE(top.cols() == 3);
    REQUIRE(bottom.cols() == 2);
    for (Index s = 0; s < 5; ++s) {
        INFO("probe step " << s);
        CHECK(converged(s) == 1.0);
        for (Index k = 0; k < 3; ++k) CHECK(std::abs(top(s, k) - exact(k)) <= 1e-6 * exact(0));
        CHECK(std::abs(bottom(s, 0) - exact(5)) <= 1e-6 * exact(0));  // most negative (here smallest) first
        CHECK(std::abs(bottom(s, 1) - exact(4)) <= 1e-6 * exact(0));
        // Hutchinson is an estimate: within 4 of its own standard errors of the exact trace.
        CHECK(std::abs(estimate(s) - hessian.trace()) <= 4 * stderror(s));
        CHECK(stderror(s) > 0);
        // The rate of the update that follows; after the last update (s = 4), that last update's rate.
        const double expectedRate = 0.05 * std::pow(0.5, static_cast<double>(std::min<Index>(s, 3) / 2));
        CHECK(rate(s) == expectedRate);
        CHECK(twoOverRate(s) == 2.0 / expectedRate);
    }
}

TEST_CASE("hessian: with orthogonal features the Hessian is diagonal and Hutchinson's trace exact", "[probes][hessian]") {
    // Eight samples whose feature rows are scaled rows of the 8 x 8 Hadamard matrix (orthogonal to each other
    // and to the bias's row of ones): X~ X~^T = 8 diag(c_k^2, 1), so H = 2 diag(c_k^2, 1) for n = 8, o = 1,
    // and z^T H z = tr H for every Rademacher z.
    const double scale[3] = {3.0, 2.0, 0.5};
    const int hadamard[3][8] = {{1, -1, 1, -1, 1, -1, 1, -1}, {1, 1, -1, -1, 1, 1, -1, -1}, {1, -1, -1, 1, 1, -1, -1, 1}};
    const std::string table = testing::scratchPath("hessian_orthogonal.csv");
    {
        std::ofstream csv(table);
        csv << "a,b,c,y\n";
        for (int j = 0; j < 8; ++j)
            csv << scale[0] * hadamard[0][j] << "," << scale[1] * hadamard[1][j] << "," << scale[2] * hadamard[2][j]
                << "," << 0.25 * j - 1.0 << "\n";
    }
    const std::string yaml = "name: hessian_orthogonal\nseed: 1\nprecision: float64\ndata: {kind: csv, file: " + table +
                             ", shuffle: false}\nmodel:\n  layers: [{kind: dense, units: 1}]\nloss: mse\n"
                             "optimizer: {kind: sgd, lr: 0.01}\ntraining: {steps: 2, batch_size: all}\ntrace: {every: 1}\n"
                             "probes: [{kind: hessian, at_init: true, at_end: true, batch: all, top: 2, bottom: 1, "
                             "trace_samples: 3}]\n";
    const trace::TraceReader reader(runConfig("hessian_orthogonal", yaml));
    const Eigen::MatrixXd top = reader.readMatrix("/probes/hessian/eigenvalues");
    const Eigen::MatrixXd bottom = reader.readMatrix("/probes/hessian/bottom_eigenvalues");
    const Eigen::VectorXd estimate = reader.readVector("/probes/hessian/trace");
    REQUIRE(top.rows() == 2);
    CHECK(reader.readInt64Vector("/probes/hessian/step") == std::vector<std::int64_t>{0, 2});
    const double exactTrace = 2.0 * (9.0 + 4.0 + 0.25 + 1.0);
    for (Index s = 0; s < 2; ++s) {
        CHECK(std::abs(top(s, 0) - 18.0) <= 1e-6);
        CHECK(std::abs(top(s, 1) - 8.0) <= 1e-6);
        CHECK(std::abs(bottom(s, 0) - 0.5) <= 1e-6);
        CHECK(std::abs(estimate(s) - exactTrace) <= 1e-6);
    }
}

namespace {

const char* tanhConfig = R"(name: hessian_tanh
seed: 11
precision: float64
data: {kind: teacher, samples: 24, inputs: 3, outputs: 2, hidden: [4], noise: 0.1}
model:
  layers: [{kind: dense, units: 5, activation: tanh}, {kind: dense, units: 2}]
loss: mse
optimizer: {kind: sgd, lr: 0.2}
training: {steps: 6, batch_size: all}
trace: {every: 1, snapshot_every: 1}
probes: [{kind: hessian, at: [0, 5], batch: all, top: 2, bottom: 2, trace_samples: 200}]
)";

using Long = long double;
using LongMatrix = Eigen::Matrix<Long, Eigen::Dynamic, Eigen::Dynamic>;

/// The tanh net's mse on (x, y) at theta = [vec W1, b1, vec W2, b2], written out (no framework code).
Long tanhLoss(const Eigen::Matrix<Long, Eigen::Dynamic, 1>& theta, const LongMatrix& x, const LongMatrix& y,
              Index hidden) {
    const Index inputs = x.rows(), outputs = y.rows();
    Index at = 0;
    const auto take = [&](Index rows, Index cols) {
        LongMatrix m = Eigen::Map<const LongMatrix>(theta.data() + at, rows, cols);
        at += rows * cols;
        return m;
    };
    const LongMatrix w1 = take(hidden, inputs), b1 = take(hidden, 1), w2 = take(outputs, hidden), b2 = take(outputs, 1);
    const LongMatrix h = ((w1 * x).colwise() + b1.col(0)).array().tanh().matrix();
    const LongMatrix error = (w2 * h).colwise() + b2.col(0) - y;
    return error.squaredNorm() / static_cast<Long>(error.size());
}

}  // namespace

TEST_CASE("hessian: a tanh net's extreme eigenvalues match the Hessian of second differences of the loss",
          "[probes][hessian]") {
    const trace::TraceReader reader(runConfig("hessian_tanh", tanhConfig));
    const data::Dataset train = trainingSet("hessian_tanh");
    const LongMatrix x = train.inputs.cast<Long>(), y = train.targets.cast<Long>();
    const Eigen::MatrixXd top = reader.readMatrix("/probes/hessian/eigenvalues");
    const Eigen::MatrixXd bottom = reader.readMatrix("/probes/hessian/bottom_eigenvalues");
    const Eigen::VectorXd estimate = reader.readVector("/probes/hessian/trace");
    const Eigen::VectorXd stderror = reader.readVector("/probes/hessian/trace_stderr");
    const std::vector<std::int64_t> steps = reader.readInt64Vector("/probes/hessian/step");
    REQUIRE(steps == std::vector<std::int64_t>{0, 5});
    for (Index s = 0; s < 2; ++s) {
        INFO("probe step " << steps[s]);
        const std::string at = "/snapshots/" + std::to_string(steps[s]) + "/";
        std::vector<Eigen::MatrixXd> blocks = {
            reader.readMatrix(at + "layers.0.dense.W/value"), reader.readMatrix(at + "layers.0.dense.b/value"),
            reader.readMatrix(at + "layers.1.dense.W/value"), reader.readMatrix(at + "layers.1.dense.b/value")};
        Index size = 0;
        for (const auto& block : blocks) size += block.size();
        REQUIRE(size == 5 * 3 + 5 + 2 * 5 + 2);
        Eigen::Matrix<Long, Eigen::Dynamic, 1> theta(size);
        Index offset = 0;
        for (const auto& block : blocks) {
            theta.segment(offset, block.size()) =
                Eigen::Map<const Eigen::VectorXd>(block.data(), block.size()).cast<Long>();
            offset += block.size();
        }
        // H_ij = (L(+i+j) - L(+i-j) - L(-i+j) + L(-i-j)) / (4 h^2): error O(h^2) + O(eps_long / h^2), ~1e-9 here.
        const Long h = 1e-5L;
        Eigen::MatrixXd hessian(size, size);
        for (Index i = 0; i < size; ++i)
            for (Index j = 0; j <= i; ++j) {
                const auto shifted = [&](Long si, Long sj) {
                    Eigen::Matrix<Long, Eigen::Dynamic, 1> t = theta;
                    t(i) += si * h;
                    t(j) += sj * h;
                    return tanhLoss(t, x, y, 5);
                };
                const Long value = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) / (4 * h * h);
                hessian(i, j) = hessian(j, i) = static_cast<double>(value);
            }
        const Eigen::VectorXd exact = descending(hessian);
        const double scale = exact(0);
        INFO("exact top " << exact(0) << ", " << exact(1) << "; bottom " << exact(size - 1) << ", " << exact(size - 2));
        INFO("probe top " << top(s, 0) << ", " << top(s, 1) << "; bottom " << bottom(s, 0) << ", " << bottom(s, 1));
        CHECK(std::abs(top(s, 0) - exact(0)) <= 1e-5 * scale);
        CHECK(std::abs(top(s, 1) - exact(1)) <= 1e-5 * scale);
        CHECK(std::abs(bottom(s, 0) - exact(size - 1)) <= 1e-5 * scale);
        CHECK(std::abs(bottom(s, 1) - exact(size - 2)) <= 1e-5 * scale);
        CHECK(std::abs(estimate(s) - hessian.trace()) <= 4 * stderror(s));
        CHECK(stderror(s) < 0.2 * std::abs(hessian.trace()));
        std::printf("hessian tanh step %lld: top %.12g (exact %.12g, rel. diff %.2e), bottom %.12g (exact %.12g), "
                    "trace %.6g +- %.2g (exact %.6g)\n",
                    static_cast<long long>(steps[s]), top(s, 0), exact(0), std::abs(top(s, 0) - exact(0)) / scale,
                    bottom(s, 0), exact(size - 1), estimate(s), stderror(s), hessian.trace());
    }
}

TEST_CASE("hessian: a run with the probe is bit-identical in every training quantity to the run without it",
          "[probes][hessian][e2e]") {
    // float32 (the default precision), a probe batch drawn from the training data, every step.
    const std::string without = runConfig("hessian_without", tanhConfig, {"precision=float32", "probes=null"});
    const std::string with = runConfig(
        "hessian_with", tanhConfig,
        {"precision=float32", "probes=[{kind: hessian, every: 1, batch: 10, top: 2, bottom: 1, trace_samples: 3}]"});
    const trace::TraceReader a(without), b(with);
    const std::vector<std::string> names = testing::listDatasets(a);
    REQUIRE(names.size() > 10);
    for (const std::string& name : names) {
        INFO(name);
        CHECK(testing::datasetBytes(a, name) == testing::datasetBytes(b, name));
    }
    const Eigen::MatrixXd top = b.readMatrix("/probes/hessian/eigenvalues");
    REQUIRE(top.rows() == 7);  // steps 0..6: after 0 to 6 updates
    CHECK(top.allFinite());
}

TEST_CASE("hessian: options and `batch: all` are checked where they are written", "[probes][hessian][config]") {
    const std::string config = testing::scratchPath("hessian_options.yaml");
    std::ofstream(config) << tanhConfig;
    const RunConfig loaded = loadRunConfig(config, {}, testing::builtinPlugins());
    REQUIRE(loaded.probes.size() == 1);
    CHECK(loaded.probes[0].fullBatch);
    CHECK(loaded.resolvedYaml.find("batch: all") != std::string::npos);
    CHECK_THROWS_WITH(loadRunConfig(config, {"probes=[{kind: hessian, every: 1, batch: al}]"}, testing::builtinPlugins()),
                      Catch::Matchers::Contains("expected a sample count or 'all'") &&
                          Catch::Matchers::Contains("did you mean 'all'?"));
    CHECK_THROWS_WITH(loadRunConfig(config, {"probes=[{kind: hessian, every: 1, top: -1}]"}, testing::builtinPlugins()),
                      Catch::Matchers::Contains("top"));
    // More eigenvalues than parameters: the run fails with the probe's message, naming it and the step.
    const std::string output = testing::scratchPath("hessian_too_many.h5");
    const RunConfig tooMany = loadRunConfig(
        config, {"probes=[{kind: hessian, at_init: true, batch: all, top: 40}]", "output=" + output}, testing::builtinPlugins());
    const RunResult result = runTraining(tooMany, testing::builtinPlugins(), RunOptions{});
    CHECK(result.status == RunStatus::failed);
    CHECK_THAT(result.message, Catch::Matchers::Contains("probe 'hessian' at step 0") &&
                                   Catch::Matchers::Contains("the model has 32"));
}
