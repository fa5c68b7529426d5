#include <catch2/catch.hpp>

#include <hdf5.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/hdf5_handle.hpp"

using namespace gradlab::data;
using Catch::Matchers::Contains;
using gradlab::Index;
using gradlab::trace::Hdf5Handle;

namespace {

constexpr double notANumber = std::numeric_limits<double>::quiet_NaN();

/// The input feature vector of step t of a sample.
Eigen::VectorXd stepInputs(const Dataset& data, Index sample, Index t) {
    return data.inputs.block(t * data.features(), sample, data.features(), 1);
}

/// The index of the single 1 in a one-hot vector; fails the test unless the vector is one-hot.
Index oneHotIndex(const Eigen::VectorXd& vector) {
    Index index = -1;
    REQUIRE(vector.sum() == 1.0);
    REQUIRE(vector.maxCoeff(&index) == 1.0);
    REQUIRE(vector.minCoeff() == 0.0);
    return index;
}

/// Mean over steps of the entropy of each step's empirical target distribution: the cross-entropy of the best
/// predictor that knows the step but not the input.
double memorylessCrossEntropy(const Dataset& data) {
    double total = 0.0;
    for (Index t = 0; t < data.targetTimesteps; ++t) {
        std::map<double, Index> counts;
        for (Index sample = 0; sample < data.samples(); ++sample) ++counts[data.targets(t, sample)];
        for (const auto& entry : counts) {
            const double p = static_cast<double>(entry.second) / static_cast<double>(data.samples());
            total -= p * std::log(p);
        }
    }
    return total / static_cast<double>(data.targetTimesteps);
}

/// Writes a dataset of doubles with the given dimensions (row-major values).
void writeArray(hid_t file, const char* name, const std::vector<hsize_t>& dims, const std::vector<double>& values) {
    Hdf5Handle space = Hdf5Handle::dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Hdf5Handle dataset = Hdf5Handle::dataset(
        H5Dcreate2(file, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(dataset.valid());
    REQUIRE(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
}

}  // namespace

TEST_CASE("adding_sum: layout, two markers anywhere, target = sum, baseline MSE 1/6", "[data][sequence]") {
    const Index samples = 100000, timesteps = 10;
    const Dataset data = makeAddingSum(samples, timesteps, 42);
    CHECK(data.inputs.rows() == 2 * timesteps);
    CHECK(data.inputs.cols() == samples);
    CHECK(data.targets.rows() == 1);
    CHECK(data.timesteps == timesteps);
    CHECK(data.targetTimesteps == 1);
    CHECK(data.features() == 2);
    CHECK(data.outputs() == 1);
    CHECK_FALSE(data.classification());
    CHECK(data.sequential());
    CHECK(data.inputShape() == gradlab::Shape{2, timesteps});
    CHECK_NOTHROW(checkLayout(data, "adding_sum"));
    CHECK_NOTHROW(checkFinite(data, "adding_sum"));

    std::vector<Index> markerCount(static_cast<std::size_t>(timesteps), 0);
    double squaredError = 0.0, targetSum = 0.0;
    for (Index sample = 0; sample < samples; ++sample) {
        double marked = 0.0;
        int markers = 0;
        for (Index t = 0; t < timesteps; ++t) {
            const Eigen::VectorXd step = stepInputs(data, sample, t);
            REQUIRE(step(0) >= 0.0);
            REQUIRE(step(0) < 1.0);
            REQUIRE((step(1) == 0.0 || step(1) == 1.0));
            if (step(1) == 1.0) {
                ++markers;
                marked += step(0);
                ++markerCount[static_cast<std::size_t>(t)];
            }
        }
        REQUIRE(markers == 2);
        REQUIRE(data.targets(0, sample) == Approx(marked).epsilon(1e-15));
        squaredError += (data.targets(0, sample) - 1.0) * (data.targets(0, sample) - 1.0);
        targetSum += data.targets(0, sample);
    }
    // Markers anywhere, uniformly: each position holds one with probability 2/T.
    for (Index count : markerCount) CHECK(static_cast<double>(count) / samples == Approx(0.2).margin(0.005));
    // The best constant is the mean target 1; its MSE is Var(u1 + u2) = 1/6 (standard error ~6e-4 here).
    CHECK(targetSum / samples == Approx(1.0).margin(0.005));
    CHECK(squaredError / samples == Approx(1.0 / 6.0).margin(0.003));
}

TEST_CASE("adding_mean: markers in the first 10% and between 10% and 50%, target = mean, baseline MSE 1/24",
          "[data][sequence]") {
    const Index samples = 100000, timesteps = 40;
    const Dataset data = makeAddingMean(samples, timesteps, 7);
    CHECK(data.features() == 2);
    CHECK(data.timesteps == timesteps);
    double squaredError = 0.0;
    std::array<Index, 2> earliest = {timesteps, timesteps}, latest = {-1, -1};
    for (Index sample = 0; sample < samples; ++sample) {
        std::vector<Index> positions;
        double marked = 0.0;
        for (Index t = 0; t < timesteps; ++t)
            if (data.inputs(2 * t + 1, sample) == 1.0) {
                positions.push_back(t);
                marked += data.inputs(2 * t, sample);
            }
        REQUIRE(positions.size() == 2);
        REQUIRE(positions[0] < 4);   // [0, T/10)
        REQUIRE(positions[1] >= 4);  // [T/10, T/2)
        REQUIRE(positions[1] < 20);
        for (std::size_t k = 0; k < 2; ++k) {
            earliest[k] = std::min(earliest[k], positions[k]);
            latest[k] = std::max(latest[k], positions[k]);
        }
        REQUIRE(data.targets(0, sample) == Approx(marked / 2).epsilon(1e-15));
        squaredError += (data.targets(0, sample) - 0.5) * (data.targets(0, sample) - 0.5);
    }
    CHECK(earliest == std::array<Index, 2>{0, 4});
    CHECK(latest == std::array<Index, 2>{3, 19});
    CHECK(squaredError / samples == Approx(1.0 / 24.0).margin(0.001));
}

TEST_CASE("copy_memory: the paper's layout, targets at every step, memoryless baseline 10 ln 8 / (T + 20)",
          "[data][sequence]") {
    const Index samples = 20000, delay = 15, length = delay + 20;
    const Dataset data = makeCopyMemory(samples, delay, 3);
    CHECK(data.timesteps == length);
    CHECK(data.targetTimesteps == length);
    CHECK(data.features() == 10);
    CHECK(data.outputs() == 1);
    CHECK(data.classes == 10);
    CHECK(data.inputs.rows() == 10 * length);
    CHECK(data.targets.rows() == length);
    CHECK_NOTHROW(checkLayout(data, "copy_memory"));
    for (Index sample = 0; sample < 200; ++sample) {
        for (Index t = 0; t < length; ++t) {
            const Index category = oneHotIndex(stepInputs(data, sample, t));
            CAPTURE(sample, t);
            if (t < 10) {
                REQUIRE(category >= 1);
                REQUIRE(category <= 8);
                REQUIRE(data.targets(length - 10 + t, sample) == double(category));  // recalled at the end
            } else if (t == 10 + delay - 1) {
                REQUIRE(category == 9);  // the delimiter: recall starts at the next step
            } else {
                REQUIRE(category == 0);
            }
            if (t < length - 10) REQUIRE(data.targets(t, sample) == 0.0);
        }
    }
    const double baseline = 10.0 * std::log(8.0) / static_cast<double>(length);
    CHECK(memorylessCrossEntropy(data) == Approx(baseline).epsilon(0.002));
}

TEST_CASE("temporal_order: X/Y at two windows, distractors elsewhere, 4 balanced classes", "[data][sequence]") {
    const Index samples = 40000, timesteps = 50;
    const Dataset data = makeTemporalOrder(samples, timesteps, 5);
    CHECK(data.features() == 6);
    CHECK(data.timesteps == timesteps);
    CHECK(data.targetTimesteps == 1);
    CHECK(data.classes == 4);
    std::array<Index, 4> classCounts = {0, 0, 0, 0};
    for (Index sample = 0; sample < samples; ++sample) {
        std::vector<Index> positions, symbols;
        for (Index t = 0; t < timesteps; ++t) {
            const Index symbol = oneHotIndex(stepInputs(data, sample, t));
            if (symbol >= 4) {
                positions.push_back(t);
                symbols.push_back(symbol - 4);
            }
        }
        REQUIRE(positions.size() == 2);
        REQUIRE(positions[0] >= 5);  // [T/10, T/5]
        REQUIRE(positions[0] <= 10);
        REQUIRE(positions[1] >= 25);  // [T/2, 3T/5]
        REQUIRE(positions[1] <= 30);
        const double label = data.targets(0, sample);
        REQUIRE(label == double(2 * symbols[0] + symbols[1]));  // XX 0, XY 1, YX 2, YY 3
        ++classCounts[static_cast<std::size_t>(label)];
    }
    // Chance: the most frequent class is right 25% of the time.
    for (Index count : classCounts) CHECK(static_cast<double>(count) / samples == Approx(0.25).margin(0.01));
    CHECK(memorylessCrossEntropy(data) == Approx(std::log(4.0)).epsilon(0.001));
}

TEST_CASE("noisy_sine: next-step targets and the zero and persistence baselines", "[data][sequence]") {
    const Index samples = 20000, timesteps = 20;
    const double noise = 0.1;
    const Dataset data = makeNoisySine(samples, timesteps, noise, 9);
    CHECK(data.features() == 1);
    CHECK(data.outputs() == 1);
    CHECK(data.timesteps == timesteps);
    CHECK(data.targetTimesteps == timesteps);
    CHECK(data.inputs.rows() == timesteps);
    CHECK(data.targets.rows() == timesteps);
    CHECK(data.targets.topRows(timesteps - 1) == data.inputs.bottomRows(timesteps - 1));  // y_t = x_{t+1}
    const double zeroMse = data.targets.squaredNorm() / static_cast<double>(data.targets.size());
    const double persistenceMse = (data.targets - data.inputs).squaredNorm() / static_cast<double>(data.targets.size());
    CHECK(zeroMse == Approx(0.5 + noise * noise).margin(0.01));
    CHECK(persistenceMse == Approx(1.0 - (std::sin(0.5) - std::sin(0.1)) / 0.4 + 2 * noise * noise).margin(0.002));
    CHECK_NOTHROW(makeNoisySine(1, 1, 0.0, 1));
    CHECK_THROWS_WITH(makeNoisySine(4, 5, -1.0, 1), Contains("noise must be finite and >= 0"));
}

TEST_CASE("sequence tasks are deterministic by seed and refuse too-short sequences", "[data][sequence]") {
    CHECK(makeAddingSum(50, 8, 1).inputs == makeAddingSum(50, 8, 1).inputs);
    CHECK(makeAddingSum(50, 8, 1).inputs != makeAddingSum(50, 8, 2).inputs);
    CHECK(makeAddingMean(50, 8, 1).targets == makeAddingMean(50, 8, 1).targets);
    CHECK(makeAddingMean(50, 8, 1).targets != makeAddingMean(50, 8, 2).targets);
    CHECK(makeCopyMemory(50, 3, 1).inputs == makeCopyMemory(50, 3, 1).inputs);
    CHECK(makeCopyMemory(50, 3, 1).targets != makeCopyMemory(50, 3, 2).targets);
    CHECK(makeTemporalOrder(50, 12, 1).inputs == makeTemporalOrder(50, 12, 1).inputs);
    CHECK(makeTemporalOrder(50, 12, 1).inputs != makeTemporalOrder(50, 12, 2).inputs);
    CHECK(makeNoisySine(50, 8, 0.1, 1).inputs == makeNoisySine(50, 8, 0.1, 1).inputs);
    CHECK(makeNoisySine(50, 8, 0.1, 1).inputs != makeNoisySine(50, 8, 0.1, 2).inputs);

    CHECK_THROWS_WITH(makeAddingSum(10, 1, 1), Contains("adding_sum: timesteps must be at least 2, got 1"));
    CHECK_THROWS_WITH(makeAddingMean(0, 5, 1), Contains("adding_mean: samples must be at least 1"));
    CHECK_THROWS_WITH(makeCopyMemory(10, 0, 1), Contains("copy_memory: delay T (timesteps) must be at least 1"));
    CHECK_THROWS_WITH(makeTemporalOrder(10, 1, 1), Contains("temporal_order: timesteps must be at least 2"));
    // The shortest sequences still place both markers / symbols at distinct steps.
    CHECK(makeAddingMean(100, 2, 1).inputs.row(1).sum() + makeAddingMean(100, 2, 1).inputs.row(3).sum() == 200.0);
    const Dataset shortest = makeTemporalOrder(20, 2, 1);
    for (Index sample = 0; sample < 20; ++sample) {
        CHECK(oneHotIndex(stepInputs(shortest, sample, 0)) >= 4);
        CHECK(oneHotIndex(stepInputs(shortest, sample, 1)) >= 4);
    }
}

TEST_CASE("checkFinite allows NaN (a masked step) only in per-step targets, and checkLayout", "[data][sequence]") {
    Dataset data = makeNoisySine(6, 4, 0.1, 1);
    data.targets(2, 3) = notANumber;
    CHECK_NOTHROW(checkFinite(data, "masked"));
    data.targets(1, 4) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(checkFinite(data, "masked"), "masked: targets sample 4, timestep 1, output 0 is +inf (0-based indices)");
    data.targets(1, 4) = 0.0;
    data.inputs(3, 5) = notANumber;
    CHECK_THROWS_WITH(checkFinite(data, "masked"), "masked: inputs sample 5, timestep 3, feature 0 is NaN (0-based indices)");

    Dataset single = makeAddingSum(5, 3, 1);
    single.targets(0, 2) = notANumber;  // one target per sequence: NaN is an error, not a mask
    CHECK_THROWS_WITH(checkFinite(single, "sum"), "sum: targets sample 2, output 0 is NaN (0-based indices)");
    single.targets(0, 2) = 0.0;
    single.inputs(5, 1) = notANumber;  // step 2, feature 1
    CHECK_THROWS_WITH(checkFinite(single, "sum"), "sum: inputs sample 1, timestep 2, feature 1 is NaN (0-based indices)");

    Dataset bad = makeNoisySine(3, 4, 0.0, 1);
    bad.targetTimesteps = 2;
    CHECK_THROWS_WITH(checkLayout(bad, "bad"), Contains("targetTimesteps must be 1") && Contains("got 2"));
    bad.targetTimesteps = 4;
    bad.timesteps = 3;
    CHECK_THROWS_WITH(checkLayout(bad, "bad"), Contains("targetTimesteps must be 1"));
    bad.timesteps = 4;
    bad.inputs.conservativeResize(6, Eigen::NoChange);
    CHECK_THROWS_WITH(checkLayout(bad, "bad"), Contains("inputs have 6 rows, not a multiple of 4 timesteps"));
}

TEST_CASE("splitValidation keeps the sequence layout", "[data][sequence]") {
    const Dataset data = makeCopyMemory(40, 2, 1);
    const Split split = splitValidation(data, 0.25, 3);
    CHECK(split.train.timesteps == 22);
    CHECK(split.train.targetTimesteps == 22);
    CHECK(split.validation.timesteps == 22);
    CHECK(split.validation.features() == 10);
    CHECK(split.validation.samples() == 10);
}

TEST_CASE("loadHdf5Sequences reads [samples x T x features] with per-sequence or per-step targets",
          "[data][sequence]") {
    const std::string path = gradlab::testing::scratchPath("sequences.h5");
    const hsize_t samples = 3, timesteps = 4, features = 2;
    {
        Hdf5Handle file = Hdf5Handle::file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        REQUIRE(file.valid());
        std::vector<double> inputs, perStep, labels, stepLabels;
        for (hsize_t s = 0; s < samples; ++s)
            for (hsize_t t = 0; t < timesteps; ++t) {
                for (hsize_t f = 0; f < features; ++f) inputs.push_back(100.0 * s + 10.0 * t + f);
                perStep.push_back(t == 1 ? std::nan("") : 1000.0 * s + t);
                stepLabels.push_back(t == 0 ? std::nan("") : double((s + t) % 3));
            }
        for (hsize_t s = 0; s < samples; ++s) labels.push_back(double(s % 2));
        writeArray(file.get(), "x", {samples, timesteps, features}, inputs);
        writeArray(file.get(), "flat", {samples, timesteps * features}, inputs);
        writeArray(file.get(), "y_step", {samples, timesteps, 1}, perStep);
        writeArray(file.get(), "y_seq", {samples, 2}, std::vector<double>(samples * 2, 0.5));
        writeArray(file.get(), "labels", {samples}, labels);
        writeArray(file.get(), "step_labels", {samples, timesteps}, stepLabels);
        writeArray(file.get(), "wrong_steps", {samples, 3, 1}, std::vector<double>(samples * 3, 0.0));
        writeArray(file.get(), "few", {2}, {0.0, 1.0});
    }

    SECTION("per-step regression targets, NaN masked") {
        const Dataset data = loadHdf5Sequences(path, "x", "y_step", false);
        CHECK(data.timesteps == 4);
        CHECK(data.targetTimesteps == 4);
        CHECK(data.features() == 2);
        CHECK(data.outputs() == 1);
        CHECK(data.samples() == 3);
        for (Index s = 0; s < 3; ++s)
            for (Index t = 0; t < 4; ++t) {
                for (Index f = 0; f < 2; ++f) CHECK(data.inputs(t * 2 + f, s) == 100.0 * s + 10.0 * t + f);
                if (t == 1)
                    CHECK(std::isnan(data.targets(t, s)));
                else
                    CHECK(data.targets(t, s) == 1000.0 * s + t);
            }
    }
    SECTION("one target per sequence; class labels per sequence and per step") {
        const Dataset sequence = loadHdf5Sequences(path, "x", "y_seq", false);
        CHECK(sequence.targetTimesteps == 1);
        CHECK(sequence.outputs() == 2);
        const Dataset labels = loadHdf5Sequences(path, "x", "labels", true);
        CHECK(labels.targetTimesteps == 1);
        CHECK(labels.classes == 2);
        const Dataset stepLabels = loadHdf5Sequences(path, "x", "step_labels", true);
        CHECK(stepLabels.targetTimesteps == 4);
        CHECK(stepLabels.outputs() == 1);
        CHECK(stepLabels.classes == 3);
        CHECK(std::isnan(stepLabels.targets(0, 1)));
    }
    SECTION("errors name the file, the dataset, the shape found and the shape expected") {
        CHECK_THROWS_WITH(loadHdf5Sequences(path, "flat", "y_seq", false),
                          Contains(path) && Contains("'flat' have shape [3 x 8]") &&
                              Contains("expected [samples x timesteps x features]"));
        CHECK_THROWS_WITH(loadHdf5Sequences(path, "x", "wrong_steps", false),
                          Contains("'wrong_steps' have shape [3 x 3 x 1]") && Contains("[samples x 4 x outputs]"));
        CHECK_THROWS_WITH(loadHdf5Sequences(path, "x", "y_seq", true),
                          Contains("[samples] or [samples x 1]") && Contains("[samples x 4] or [samples x 4 x 1]"));
        CHECK_THROWS_WITH(loadHdf5Sequences(path, "x", "few", false),
                          Contains("has 3 samples [3 x 4 x 2] but targets 'few' has 2 [2]"));
        CHECK_THROWS_WITH(loadHdf5Sequences(path, "x", "nothing", false), Contains("has no targets dataset 'nothing'"));
    }
    std::filesystem::remove(path);
}
