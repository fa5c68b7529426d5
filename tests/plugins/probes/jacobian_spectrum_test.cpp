// The jacobian_spectrum probe against independent computations: a linear network's spectrum is that of the
// product of its weight matrices (Eigen's SVD); a tanh/ReLU network's Jacobian against central differences of
// the whole network, written out by hand from the saved parameters; a residual network whose branches are
// gated to zero has every singular value exactly 1; and the free-probability theory of Pennington et al. (2017)
// at L/N = 1/200 for ReLU (Gaussian and orthogonal weights) and tanh at criticality.
#include <hdf5.h>

#include <catch2/catch.hpp>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "gradlab/probe_schema.hpp"
#include "support/plugin_fixture.hpp"
#include "theory/mean_field.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
namespace js = probeSchema::jacobianSpectrum;

namespace {

const std::string group = std::string(probeSchema::group) + "/" + js::kind;

std::string table(const std::string& name) { return group + "/" + name; }

/// Runs a config (text) and returns its trace's path.
std::string runText(const std::string& name, const std::string& text) {
    const std::string config = testing::scratchPath(name + ".yaml");
    std::ofstream(config) << text;
    RunOptions options;
    options.output = testing::scratchPath(name + ".h5");
    options.progress = ProgressStyle::none;
    const RunResult result =
        runTraining(loadRunConfig(config, {}, testing::builtinPlugins()), testing::builtinPlugins(), options);
    REQUIRE(result.status == RunStatus::completed);
    return options.output;
}

/// Writes a CSV of `samples` rows: `inputs` N(0, scale^2) features and one target column.
std::string writeCsv(const std::string& name, int samples, int inputs, int outputs, double scale, unsigned seed,
                     std::vector<Eigen::VectorXd>* rows = nullptr) {
    const std::string path = testing::scratchPath(name + ".csv");
    std::ofstream out(path);
    std::mt19937_64 random(seed);
    std::normal_distribution<double> normal(0.0, scale);
    for (int i = 0; i < inputs; ++i) out << "x" << i << ",";
    for (int k = 0; k < outputs; ++k) out << "y" << k << (k + 1 < outputs ? "," : "\n");
    out.precision(17);
    for (int s = 0; s < samples; ++s) {
        Eigen::VectorXd row(inputs);
        for (int i = 0; i < inputs; ++i) {
            row(i) = normal(random);
            out << row(i) << ",";
        }
        for (int k = 0; k < outputs; ++k) out << normal(random) << (k + 1 < outputs ? "," : "\n");
        if (rows != nullptr) rows->push_back(row);
    }
    return path;
}

/// The csv data entry of a file whose last `outputs` columns are the targets.
std::string csvData(const std::string& file, int outputs) {
    std::string targets;
    for (int k = outputs; k >= 1; --k) targets += (targets.empty() ? "" : ", ") + std::to_string(-k);
    return "data: {kind: csv, file: " + file + ", targets: [" + targets + "]}\n";
}

/// The singular values of example `example` at probe row `row` ([S x n x K]).
Eigen::VectorXd singularValues(const trace::TraceReader& reader, Eigen::Index row, Eigen::Index example) {
    const std::vector<hsize_t> shape = reader.datasetShape(table(js::singularValues));
    const Eigen::Index count = static_cast<Eigen::Index>(shape.at(2));
    return reader.readFlattened(table(js::singularValues)).row(row).segment(example * count, count).transpose();
}

Eigen::MatrixXd parameter(const trace::TraceReader& reader, const std::string& name) {
    return reader.readMatrix("/model/parameters/" + name);
}

}  // namespace

TEST_CASE("jacobian_spectrum: a linear network's singular values are those of its weight product",
          "[plugins][probes][jacobian]") {
    // Three dense layers without activation, 7 -> 9 -> 6 -> 5; steps: 1 and at_end, so that the probe sees the
    // parameters /model saves.
    const std::string trace = runText("jacobian_linear", R"(precision: float64
data: {kind: random_regression, samples: 16, inputs: 7, outputs: 5}
model: {layers: [{kind: dense, units: 9}, {kind: dense, units: 6}, {kind: dense, units: 5}]}
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 1, batch_size: 4}
probes: [{kind: jacobian_spectrum, at_end: true, examples: 3, batch: 3}]
)");
    const trace::TraceReader reader(trace);
    const Eigen::MatrixXd product = parameter(reader, "layers.2.dense.W") * parameter(reader, "layers.1.dense.W") *
                                    parameter(reader, "layers.0.dense.W");
    const Eigen::VectorXd expected = Eigen::JacobiSVD<Eigen::MatrixXd>(product).singularValues();
    REQUIRE(expected.size() == 5);
    for (Eigen::Index example = 0; example < 3; ++example) {
        const Eigen::VectorXd got = singularValues(reader, 0, example);
        INFO("example " << example << ": got " << got.transpose() << ", expected " << expected.transpose());
        CHECK((got - expected).cwiseAbs().maxCoeff() <= 1e-12 * expected(0));
    }
    const Eigen::MatrixXd meanSq = reader.readMatrix(table(js::meanSq));
    CHECK(meanSq(0, 1) == Approx(expected.squaredNorm() / 5).epsilon(1e-12));
    const Eigen::MatrixXd logCondition = reader.readMatrix(table(js::logCondition));
    CHECK(logCondition(0, 2) == Approx(std::log(expected(0) / expected(4))).epsilon(1e-12));
    const Eigen::MatrixXd quantiles = reader.readFlattened(table(js::quantiles));
    CHECK(quantiles(0, 0) == Approx(expected(4)).epsilon(1e-12));          // 0 %
    CHECK(quantiles(0, 3) == Approx(expected(2)).epsilon(1e-12));          // 50 % of 5 values: the middle one
    CHECK(quantiles(0, 6) == Approx(expected(0)).epsilon(1e-12));          // 100 %
    // A linear network is outside the theory, and says so.
    CHECK(reader.doubleAttribute(js::theory::applies, group + "/" + probeSchema::theoryGroup) == 0.0);
}

TEST_CASE("jacobian_spectrum: a tanh/ReLU network's Jacobian against central differences of the whole network",
          "[plugins][probes][jacobian]") {
    // One sample, so that the probe batch is that sample; the network is evaluated by hand from /model.
    std::vector<Eigen::VectorXd> rows;
    const std::string csv = writeCsv("jacobian_fd", 1, 5, 4, 1.0, 3, &rows);
    const std::string trace = runText("jacobian_fd", std::string("precision: float64\n") +
                                                     csvData(csv, 4) + R"(model:
  layers:
    - {kind: dense, units: 8, activation: tanh, init: {b: {kind: normal, std: 0.3}}}
    - {kind: dense, units: 6, activation: relu, init: {W: he_normal, b: {kind: normal, std: 0.3}}}
    - {kind: dense, units: 4, init: {b: {kind: normal, std: 0.3}}}
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 1, batch_size: 1}
probes: [{kind: jacobian_spectrum, at_end: true, examples: 1, batch: 1}]
)");
    const trace::TraceReader reader(trace);
    const Eigen::MatrixXd w0 = parameter(reader, "layers.0.dense.W"), w1 = parameter(reader, "layers.1.dense.W"),
                          w2 = parameter(reader, "layers.2.dense.W");
    const Eigen::VectorXd b0 = parameter(reader, "layers.0.dense.b"), b1 = parameter(reader, "layers.1.dense.b"),
                          b2 = parameter(reader, "layers.2.dense.b");
    const auto network = [&](const Eigen::VectorXd& x) -> Eigen::VectorXd {
        const Eigen::VectorXd h0 = (w0 * x + b0).array().tanh();
        const Eigen::VectorXd h1 = (w1 * h0 + b1).cwiseMax(0.0);
        return w2 * h1 + b2;
    };
    const Eigen::VectorXd& x = rows.front();
    Eigen::MatrixXd jacobian(4, 5);
    const double h = 1e-5;
    for (int i = 0; i < 5; ++i) {
        Eigen::VectorXd plus = x, minus = x;
        plus(i) += h;
        minus(i) -= h;
        jacobian.col(i) = (network(plus) - network(minus)) / (2 * h);
    }
    const Eigen::VectorXd expected = Eigen::JacobiSVD<Eigen::MatrixXd>(jacobian).singularValues();
    const Eigen::VectorXd got = singularValues(reader, 0, 0);
    INFO("got " << got.transpose() << ", finite differences " << expected.transpose());
    REQUIRE(got.size() == 4);
    CHECK((got - expected).cwiseAbs().maxCoeff() <= 1e-7 * expected(0));
}

TEST_CASE("jacobian_spectrum: the Lanczos path (central-difference J v, exact J^T) against the exact path",
          "[plugins][probes][jacobian][lanczos]") {
    // 6 inputs -> 10 outputs: J^T J is 6 x 6, so the 3 largest and 3 smallest eigenvalues are the whole spectrum.
    // The same network (same seed) once with exact_limit 1024 (exact path) and once with exact_limit 4 < 10
    // (Lanczos on J^T J with central differences of the forward, docs/theory.md).
    const std::string config = R"(precision: float64
seed: 9
data: {kind: random_regression, samples: 16, inputs: 6, outputs: 10}
model:
  layers:
    - {kind: dense, units: 12, activation: tanh, init: {b: {kind: normal, std: 0.3}}}
    - {kind: dense, units: 12, activation: tanh, init: {b: {kind: normal, std: 0.3}}}
    - {kind: dense, units: 10}
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 2, batch_size: 4}
)";
    const std::string probe = "probes: [{kind: jacobian_spectrum, at_init: true, at_end: true, examples: 3, batch: 4";
    const trace::TraceReader exact(runText("jacobian_exact_path", config + probe + "}]\n"));
    const trace::TraceReader lanczos(
        runText("jacobian_lanczos_path", config + probe + ", exact_limit: 4, lanczos_values: 3}]\n"));
    double worst = 0;
    for (Eigen::Index row = 0; row < 2; ++row)
        for (Eigen::Index example = 0; example < 3; ++example) {
            const Eigen::VectorXd expected = singularValues(exact, row, example);
            const Eigen::VectorXd got = singularValues(lanczos, row, example);
            REQUIRE(expected.size() == 6);
            REQUIRE(got.size() == 6);  // the 3 largest, then the 3 smallest, each descending
            INFO("step row " << row << ", example " << example << ": Lanczos " << got.transpose() << ", exact "
                             << expected.transpose());
            const double error = (got - expected).cwiseAbs().maxCoeff() / expected(0);
            worst = std::max(worst, error);
            CHECK(error <= 1e-7);
            CHECK(lanczos.readMatrix(table(js::max))(row, example) == got(0));
            CHECK(lanczos.readMatrix(table(js::min))(row, example) == got(5));
            CHECK(std::isnan(lanczos.readMatrix(table(js::meanSq))(row, example)));  // needs the whole spectrum
        }
    std::printf("jacobian_spectrum Lanczos path: largest error against the exact path %.2e of sigma_max\n", worst);
}

TEST_CASE("jacobian_spectrum: a tanh RNN's dh_{T-1}/dh_t against the product of its step Jacobians by hand",
          "[plugins][probes][jacobian][recurrent]") {
    // One sequence of T = 5 steps of 3 features (an HDF5 file), rnn of 6 units (h_t = tanh(W_x x_t + W_h h_{t-1}
    // + b)) under a dense head; the probe at the end sees the parameters /model saves. dh_4/dh_t =
    // prod_{s = 4 .. t+1} diag(1 - h_s^2) W_h, from h_t recomputed here; t = 4 is the identity.
    constexpr hsize_t steps = 5, features = 3;
    std::vector<double> x;
    std::mt19937_64 random(5);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (hsize_t i = 0; i < steps * features; ++i) x.push_back(normal(random));
    const std::string file = testing::scratchPath("jacobian_rnn.h5");
    {
        trace::Hdf5Handle h5 = trace::Hdf5Handle::file(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        REQUIRE(h5.valid());
        const auto write = [&](const char* name, const std::vector<hsize_t>& dims, const std::vector<double>& values) {
            trace::Hdf5Handle space =
                trace::Hdf5Handle::dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
            trace::Hdf5Handle set = trace::Hdf5Handle::dataset(
                H5Dcreate2(h5.get(), name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
            REQUIRE(H5Dwrite(set.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
        };
        write("x", {1, steps, features}, x);
        write("y", {1, 2}, {0.5, -0.5});
    }
    const bool sequences = GENERATE(false, true);  // the rnn's output: h_4 only, or every h_t (then per-step head)
    CAPTURE(sequences);
    const std::string trace = runText(std::string("jacobian_rnn_") + (sequences ? "seq" : "last"),
        "precision: float64\nseed: 3\ndata: {kind: hdf5_sequences, file: " + file + ", inputs: x, targets: y}\n"
        "model:\n  layers:\n    - {kind: rnn, units: 6, return_sequences: " + (sequences ? "true" : "false") +
        ", init: {W_h: {kind: normal, std: 0.6}, b: {kind: normal, std: 0.3}}}\n" +
        (sequences ? "    - {kind: dense, units: 2}\n    - {kind: rnn, units: 2}\n" : "    - {kind: dense, units: 2}\n") +
        "optimizer: {kind: sgd, lr: 0.01}\ntraining: {steps: 1, batch_size: 1}\n"
        "probes: [{kind: jacobian_spectrum, at_end: true, examples: 1, batch: 1, timesteps: [0, 2, 4]}]\n");
    const trace::TraceReader reader(trace);
    const Eigen::MatrixXd wx = parameter(reader, "layers.0.rnn.W_x"), wh = parameter(reader, "layers.0.rnn.W_h");
    const Eigen::VectorXd b = parameter(reader, "layers.0.rnn.b");
    std::vector<Eigen::VectorXd> h;
    Eigen::VectorXd state = Eigen::VectorXd::Zero(6);
    for (hsize_t t = 0; t < steps; ++t) {
        const Eigen::Map<const Eigen::VectorXd> input(x.data() + t * features, features);
        state = (wx * input + wh * state + b).array().tanh();
        h.push_back(state);
    }
    for (const int t : {0, 2, 4}) {
        Eigen::MatrixXd jacobian = Eigen::MatrixXd::Identity(6, 6);
        for (int s = 4; s > t; --s)
            jacobian = jacobian * (1.0 - h[static_cast<std::size_t>(s)].array().square()).matrix().asDiagonal() * wh;
        const Eigen::VectorXd expected = Eigen::JacobiSVD<Eigen::MatrixXd>(jacobian).singularValues();
        const std::string prefix = group + "/" + js::timestepsGroup + "/layers.0.rnn/" + std::to_string(t) + "/";
        const Eigen::VectorXd got = reader.readFlattened(prefix + js::singularValues).row(0).transpose();
        INFO("t = " << t << ": got " << got.transpose() << ", by hand " << expected.transpose());
        REQUIRE(got.size() == 6);
        if (t == 4)
            CHECK(got.cwiseEqual(1.0).all());  // dh_4/dh_4 = I exactly
        else
            CHECK((got - expected).cwiseAbs().maxCoeff() <= 1e-12 * expected(0));
        CHECK(reader.readMatrix(prefix + js::max)(0, 0) == got(0));
    }
    if (sequences)  // the second rnn's timesteps too (2 units)
        CHECK(reader.readFlattened(group + "/" + js::timestepsGroup + "/layers.2.rnn/4/" + js::singularValues)
                  .row(0)
                  .cwiseEqual(1.0)
                  .all());
}

TEST_CASE("jacobian_spectrum: residual blocks gated to zero have every singular value exactly 1",
          "[plugins][probes][jacobian]") {
    const std::string trace = runText("jacobian_residual", R"(data: {kind: random_regression, samples: 16, inputs: 12, outputs: 12}
model:
  layers:
    - repeat: 4
      layers:
        - {kind: residual, gate: scalar, gate_init: 0, layers: [{kind: dense, units: 12, activation: tanh}, {kind: dense, units: 12}]}
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 3, batch_size: 4}
probes: [{kind: jacobian_spectrum, at_init: true, examples: 4, batch: 6, from: [layers.2.residual]}]
)");
    const trace::TraceReader reader(trace);
    for (Eigen::Index example = 0; example < 4; ++example) {
        const Eigen::VectorXd got = singularValues(reader, 0, example);
        REQUIRE(got.size() == 12);
        for (Eigen::Index k = 0; k < 12; ++k) CHECK(got(k) == 1.0);
    }
    CHECK(reader.readMatrix(table(js::logCondition))(0, 0) == 0.0);
    const Eigen::MatrixXd partial =
        reader.readFlattened(group + "/" + js::fromGroup + "/layers.2.residual/" + js::singularValues);
    CHECK(partial.row(0).cwiseEqual(1.0).all());
}

namespace {

/// Mean over the examples of the first probe step's mean_sq and var_sq / mean_sq^2, and the theory's.
struct TheoryFigures {
    double meanSq = 0, normalisedVarSq = 0, predictedMeanSq = 0, predictedNormalisedVarSq = 0;
};

TheoryFigures theoryFigures(const std::string& trace) {
    const trace::TraceReader reader(trace);
    const std::string theory = group + "/" + probeSchema::theoryGroup;
    REQUIRE(reader.doubleAttribute(js::theory::applies, theory) == 1.0);
    const Eigen::RowVectorXd means = reader.readMatrix(table(js::meanSq)).row(0);
    const Eigen::RowVectorXd variances = reader.readMatrix(table(js::varSq)).row(0);
    TheoryFigures figures;
    figures.meanSq = means.mean();
    figures.normalisedVarSq = (variances.array() / means.array().square()).mean();
    figures.predictedMeanSq = reader.doubleAttribute(js::theory::meanSq, theory);
    figures.predictedNormalisedVarSq = reader.doubleAttribute(js::theory::normalisedVarSq, theory);
    return figures;
}

/// The weight draws (run seeds) the theory is compared over: the examples of one run share their weights, so
/// one run's mean of sigma^2 varies by ~3 % from seed to seed (ReLU, orthogonal: 0.957 to 1.039 over seeds 1-8,
/// mean 0.992); four draws of 8 examples hold the average to ~1.5 %.
constexpr int theorySeeds = 4;

/// TheoryFigures averaged over theorySeeds runs (seeds 1, 2, ...) made by run(seed).
template <typename Run>
TheoryFigures averagedFigures(Run run) {
    TheoryFigures sum;
    for (int seed = 1; seed <= theorySeeds; ++seed) {
        const TheoryFigures one = theoryFigures(run(seed));
        sum.meanSq += one.meanSq / theorySeeds;
        sum.normalisedVarSq += one.normalisedVarSq / theorySeeds;
        sum.predictedMeanSq = one.predictedMeanSq;  // the prediction does not depend on the draw
        sum.predictedNormalisedVarSq = one.predictedNormalisedVarSq;
    }
    return sum;
}

/// N = 800, L = 4 dense layers each followed by `activation`, weights from `weights`, biases N(0, sigmaB2),
/// inputs N(0, inputScale^2) from a CSV (so that the first pre-activations have variance q*), float64; the
/// weights and inputs drawn with `seed`.
std::string theoryRun(const std::string& name, const std::string& activation, const std::string& weights,
                      double sigmaB2, double inputScale, int seed) {
    const std::string run = name + "_" + std::to_string(seed);
    const std::string csv = writeCsv(run, 8, 800, 800, inputScale, 17u + static_cast<unsigned>(seed));
    std::string text = "precision: float64\nseed: " + std::to_string(seed) + "\n" + csvData(csv, 800) + "model:\n  layers:\n"
                       "    - repeat: 4\n      layers:\n        - {kind: dense, units: 800, activation: " + activation +
                       ", init: {W: " + weights + (sigmaB2 > 0 ? ", b: {kind: normal, std: " + std::to_string(std::sqrt(sigmaB2)) + "}" : std::string()) +
                       "}}\noptimizer: {kind: sgd, lr: 0.01}\ntraining: {steps: 1, batch_size: 8}\n"
                       "probes: [{kind: jacobian_spectrum, at_init: true, examples: 8, batch: 8, max_values: 1}]\n";
    return runText(run, text);
}

void checkTheory(const std::string& what, const TheoryFigures& figures) {
    std::printf("jacobian_spectrum theory, %s, N = 800, L = 4, 8 examples x 4 weight draws: mean of sigma^2 %.4f (predicted %.4f, "
                "ratio %.3f), var/mean^2 %.4f (predicted %.4f, ratio %.3f)\n",
                what.c_str(), figures.meanSq, figures.predictedMeanSq, figures.meanSq / figures.predictedMeanSq,
                figures.normalisedVarSq, figures.predictedNormalisedVarSq,
                figures.normalisedVarSq / figures.predictedNormalisedVarSq);
    INFO(what);
    CHECK(figures.meanSq == Approx(figures.predictedMeanSq).epsilon(0.05));
    CHECK(figures.normalisedVarSq == Approx(figures.predictedNormalisedVarSq).epsilon(0.05));
}

}  // namespace

TEST_CASE("jacobian_spectrum: free-probability theory at L/N = 1/200, ReLU with Gaussian and orthogonal weights",
          "[plugins][probes][jacobian][theory]") {
    // He scaling: sigma_w^2 = 2, chi = 1, mu_2 / mu_1^2 = 2: var/mean^2 = 2L Gaussian, L orthogonal.
    const TheoryFigures gaussian = averagedFigures(
        [](int seed) { return theoryRun("theory_relu_gaussian", "relu", "he_normal", 0, 1.0, seed); });
    CHECK(gaussian.predictedNormalisedVarSq == Approx(8.0).epsilon(0.05));
    checkTheory("relu, Gaussian weights", gaussian);
    const TheoryFigures orthogonal = averagedFigures([](int seed) {
        return theoryRun("theory_relu_orthogonal", "relu", "{kind: orthogonal, gain: " + std::to_string(std::sqrt(2.0)) + "}",
                         0, 1.0, seed);
    });
    CHECK(orthogonal.predictedNormalisedVarSq == Approx(4.0).epsilon(0.05));
    checkTheory("relu, orthogonal weights", orthogonal);
}

TEST_CASE("jacobian_spectrum: free-probability theory at L/N = 1/200, tanh at criticality",
          "[plugins][probes][jacobian][theory]") {
    // sigma_b^2 = 0.05 and sigma_w^2 on the critical line chi_1 = 1 (bisection), inputs scaled so that the
    // first pre-activations have variance q*.
    const double sigmaB2 = 0.05;
    const auto phi = [](double x) { return std::tanh(x); };
    const auto slope = [](double x) { return 1.0 - std::tanh(x) * std::tanh(x); };
    double low = 1.0, high = 2.0;
    for (int iteration = 0; iteration < 60; ++iteration) {
        const double middle = 0.5 * (low + high);
        (theory::meanField(phi, slope, middle, sigmaB2).chi1 < 1.0 ? low : high) = middle;
    }
    const double sigmaW2 = 0.5 * (low + high);
    const theory::MeanFieldPrediction critical = theory::meanField(phi, slope, sigmaW2, sigmaB2);
    REQUIRE(critical.chi1 == Approx(1.0).epsilon(1e-9));
    const double inputScale = std::sqrt((critical.qStar - sigmaB2) / sigmaW2);
    const std::string std = std::to_string(std::sqrt(sigmaW2 / 800.0));
    const TheoryFigures gaussian = averagedFigures([&](int seed) {
        return theoryRun("theory_tanh_gaussian", "tanh", "{kind: normal, std: " + std + "}", sigmaB2, inputScale, seed);
    });
    checkTheory("tanh at criticality, Gaussian weights (sigma_w^2 = " + std::to_string(sigmaW2) + ")", gaussian);
    const TheoryFigures orthogonal = averagedFigures([&](int seed) {
        return theoryRun("theory_tanh_orthogonal", "tanh",
                         "{kind: orthogonal, gain: " + std::to_string(std::sqrt(sigmaW2)) + "}", sigmaB2, inputScale, seed);
    });
    checkTheory("tanh at criticality, orthogonal weights", orthogonal);
}
