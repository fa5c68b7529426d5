// End to end: /eval/loss of every loss kind equals the formula docs/hdf5-schema.md gives, whatever the
// chunking. The validation sets have 300 samples, evaluated in chunks of 256 + 44; the loss is recomputed here
// from the trace's final model (a linear layer after one step: the model the evaluation at that step used) and
// the validation samples, without the framework's loss code.
#include <hdf5.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "config/run_config.hpp"
#include "data/dataset.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using trace::Hdf5Handle;

namespace {

constexpr hsize_t sampleCount = 600, timesteps = 3, featureCount = 4, outputs = 2;
constexpr double validationFraction = 0.5;  // 300 validation samples: chunks of 256 and 44
constexpr int batchSize = 20;

void writeArray(hid_t file, const char* name, const std::vector<hsize_t>& dims, const std::vector<double>& values) {
    Hdf5Handle space = Hdf5Handle::dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Hdf5Handle dataset = Hdf5Handle::dataset(
        H5Dcreate2(file, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(dataset.valid());
    REQUIRE(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
}

/// Sequences x [samples x T x F]; per-step regression targets [samples x T x K] with NaN at every fifth
/// (sample, step); per-step labels [samples x T] in 0..K-1 with NaN at every seventh; per-sample features
/// [samples x F] with binary labels [samples].
std::string writeData() {
    const std::string path = testing::scratchPath("eval_loss_data.h5");
    Random random(7);
    std::vector<double> x, y, labels, flat, binary;
    for (hsize_t s = 0; s < sampleCount; ++s) {
        for (hsize_t t = 0; t < timesteps; ++t) {
            for (hsize_t f = 0; f < featureCount; ++f) x.push_back(random.normal());
            for (hsize_t k = 0; k < outputs; ++k)
                y.push_back((s * timesteps + t) % 5 == 0 ? std::nan("") : random.normal());
            labels.push_back((s * timesteps + t) % 7 == 0 ? std::nan("") : double((s + t) % outputs));
        }
        for (hsize_t f = 0; f < featureCount; ++f) flat.push_back(random.normal());
        binary.push_back(double(s % 3 == 0));
    }
    Hdf5Handle file = Hdf5Handle::file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(file.valid());
    writeArray(file.get(), "x", {sampleCount, timesteps, featureCount}, x);
    writeArray(file.get(), "y", {sampleCount, timesteps, outputs}, y);
    writeArray(file.get(), "labels", {sampleCount, timesteps}, labels);
    writeArray(file.get(), "flat", {sampleCount, featureCount}, flat);
    writeArray(file.get(), "binary", {sampleCount}, binary);
    return path;
}

struct Case {
    std::string name, data, loss;
    int units;
};

/// Runs one step and returns the trace's path; the evaluation after it uses the model the trace ends with.
std::string runCase(const Case& c, const std::string& precision) {
    const std::string config = testing::scratchPath("eval_loss_" + c.name + ".yaml");
    const std::string output = testing::scratchPath("eval_loss_" + c.name + "_" + precision + ".h5");
    std::ofstream(config) << "name: eval_" << c.name << "\nprecision: " << precision << "\ndata: " << c.data
                          << "\nmodel:\n  layers:\n    - {kind: dense, units: " << c.units
                          << ", init: {W: {kind: normal, std: 0.5}, b: {kind: normal, std: 0.5}}}\nloss: " << c.loss
                          << "\noptimizer: {kind: sgd, lr: 1.0e-3}\ntraining: {steps: 1, batch_size: " << batchSize
                          << "}\noutput: " << output << "\n";
    const RunConfig loaded = loadRunConfig(config, {}, testing::builtinPlugins());
    RunOptions options;
    const RunResult result = runTraining(loaded, testing::builtinPlugins(), options);
    REQUIRE(result.status == RunStatus::completed);
    return output;
}

/// The validation samples the run evaluated on (the same split as the trainer's).
data::Dataset validationSet(const data::Dataset& all) { return data::splitValidation(all, validationFraction, 0).validation; }

/// The model's predictions for sample s at step t: W x + b, from the trace's model.
Eigen::VectorXd predict(const trace::TraceReader& reader, const data::Dataset& set, Index s, Index t) {
    const Eigen::MatrixXd W = reader.readMatrix("/model/parameters/layers.0.dense.W");
    const Eigen::VectorXd b = reader.readVector("/model/parameters/layers.0.dense.b");
    const Index features = set.features();
    return W * set.inputs.block(t * features, s, features, 1) + b;
}

double evalLoss(const std::string& trace) {
    const trace::TraceReader reader(trace);
    const Eigen::VectorXd loss = reader.readVector("/eval/loss");
    REQUIRE(loss.size() == 1);
    return loss(0);
}

}  // namespace

TEST_CASE("/eval/loss follows the documented formula for every loss, over chunks of 256 + 44", "[e2e][eval]") {
    const std::string file = writeData();
    const std::string sequences = "{kind: hdf5_sequences, file: " + file + ", inputs: x, targets: ";
    const std::string validation = ", validation: " + std::to_string(validationFraction) + "}";
    for (const std::string precision : {"float64", "float32"}) {
        CAPTURE(precision);
        const double tolerance = precision == "float64" ? 1e-12 : 1e-5;

        SECTION("sse and mse over masked per-step targets") {
            const data::Dataset set = validationSet(data::loadHdf5Sequences(file, "x", "y", false));
            REQUIRE(set.samples() == 300);
            // sum (p - y)^2 over the targets present, with the model a trace ends with, and their number.
            auto squaredErrors = [&](const std::string& trace, double& present) {
                const trace::TraceReader reader(trace);
                double squares = 0;
                present = 0;
                for (Index s = 0; s < set.samples(); ++s)
                    for (Index t = 0; t < Index(timesteps); ++t) {
                        const Eigen::VectorXd p = predict(reader, set, s, t);
                        for (Index k = 0; k < Index(outputs); ++k) {
                            const double target = set.targets(t * Index(outputs) + k, s);
                            if (std::isnan(target)) continue;
                            squares += (p(k) - target) * (p(k) - target);
                            present += 1;
                        }
                    }
                return squares;
            };
            double present = 0;
            // sse: the sum over the set, scaled to the training batch size.
            const std::string sse = runCase({"sse", sequences + "y" + validation, "sse", int(outputs)}, precision);
            CHECK(evalLoss(sse) == Approx(squaredErrors(sse, present) * batchSize / 300.0).epsilon(tolerance));
            // mse: the mean over the targets present.
            const std::string mse = runCase({"mse", sequences + "y" + validation, "mse", int(outputs)}, precision);
            const double squares = squaredErrors(mse, present);
            CHECK(present < 300 * timesteps * outputs);  // some are masked
            CHECK(evalLoss(mse) == Approx(squares / present).epsilon(tolerance));
        }
        SECTION("softmax cross-entropy over masked per-step labels") {
            const data::Dataset set = validationSet(data::loadHdf5Sequences(file, "x", "labels", true));
            const std::string trace = runCase(
                {"entropy", "{kind: hdf5_sequences, file: " + file + ", inputs: x, targets: labels, classification: "
                            "true" + validation, "softmax_cross_entropy", int(outputs)},
                precision);
            const trace::TraceReader reader(trace);
            double total = 0, counted = 0;
            for (Index s = 0; s < set.samples(); ++s)
                for (Index t = 0; t < Index(timesteps); ++t) {
                    const double label = set.targets(t, s);
                    if (std::isnan(label)) continue;
                    const Eigen::VectorXd p = predict(reader, set, s, t);
                    total += std::log(p.array().exp().sum()) - p(Index(label));
                    counted += 1;
                }
            CHECK(evalLoss(trace) == Approx(total / counted).epsilon(tolerance));
        }
        SECTION("binary cross-entropy from logits") {
            const data::Dataset set = validationSet(data::loadHdf5(file, "flat", "binary", true));
            const std::string trace = runCase({"binary", "{kind: hdf5, file: " + file +
                                                             ", inputs: flat, targets: binary, classification: true" +
                                                             validation,
                                               "binary_cross_entropy", 1},
                                              precision);
            const trace::TraceReader reader(trace);
            double total = 0;
            for (Index s = 0; s < set.samples(); ++s) {
                const double logit = predict(reader, set, s, 0)(0), y = set.targets(0, s);
                total += std::log(1 + std::exp(-logit)) + (1 - y) * logit;  // -[y log s + (1-y) log(1-s)]
            }
            CHECK(evalLoss(trace) == Approx(total / set.samples()).epsilon(tolerance));
        }
    }
}

TEST_CASE("the two-layer example's eval loss is its training loss when nothing changes (sse is not scaled by the chunk)",
          "[e2e][eval]") {
    const std::string output = testing::scratchPath("eval_two_layer.h5");
    const RunConfig config = loadRunConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml",
                                           {"training.steps=2", "optimizer.lr=1e-30", "precision=float64"},
                                           testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    REQUIRE(runTraining(config, testing::builtinPlugins(), options).status == RunStatus::completed);
    const trace::TraceReader reader(output);
    const Eigen::VectorXd loss = reader.readVector("/trace/loss");
    // No validation set: the eval set is the training set, one batch of 64: the same sum of squared errors (lr
    // 1e-30 moves no weight of the N(0, 1) init: every step is below their rounding level).
    CHECK(reader.readMatrix("/trace/update_norm").maxCoeff() == 0.0);
    CHECK(evalLoss(output) == Approx(loss(1)).epsilon(1e-12));
}
