#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "data/batcher.hpp"
#include "gradlab/error.hpp"

using namespace gradlab::data;
using Catch::Matchers::Contains;
using gradlab::Index;
using gradlab::Matrix;

namespace {

/// N samples whose single input feature and target are the sample index (targets offset by 1000).
Dataset taggedDataset(Index samples) {
    Dataset data;
    data.inputs.resize(1, samples);
    data.targets.resize(2, samples);
    for (Index sample = 0; sample < samples; ++sample) {
        data.inputs(0, sample) = double(sample);
        data.targets(0, sample) = 1000.0 + double(sample);
        data.targets(1, sample) = -double(sample);
    }
    data.description = "tagged";
    return data;
}

/// The sample indices of the next `steps` batches, checking inputs and targets travel together.
template <typename Scalar>
std::vector<Index> drawSamples(Batcher<Scalar>& batcher, int steps) {
    std::vector<Index> drawn;
    Matrix<Scalar> x, y;
    for (int step = 0; step < steps; ++step) {
        batcher.next(x, y);
        REQUIRE(x.cols() == batcher.batchSize());
        REQUIRE(y.cols() == batcher.batchSize());
        REQUIRE(y.rows() == 2);
        for (Index column = 0; column < x.cols(); ++column) {
            const Index sample = static_cast<Index>(x(0, column));
            REQUIRE(y(0, column) == Scalar(1000 + sample));
            REQUIRE(y(1, column) == Scalar(-sample));
            REQUIRE(batcher.lastIndices()[static_cast<std::size_t>(column)] == sample);
            drawn.push_back(sample);
        }
    }
    return drawn;
}

}  // namespace

TEST_CASE("batcher uses every sample once per epoch when the batch divides the data", "[data]") {
    const Dataset data = taggedDataset(12);
    Batcher<float> batcher(data, 4, true, 9);
    for (int epoch = 0; epoch < 3; ++epoch) {
        std::vector<Index> drawn = drawSamples(batcher, 3);
        CHECK(batcher.epoch() == Approx(epoch + 1));
        std::sort(drawn.begin(), drawn.end());
        std::vector<Index> all(12);
        for (Index sample = 0; sample < 12; ++sample) all[static_cast<std::size_t>(sample)] = sample;
        CHECK(drawn == all);
    }
    CHECK(batcher.position() == 36);
}

TEST_CASE("batcher without shuffle serves 0..N-1 in order, wrapping around", "[data]") {
    const Dataset data = taggedDataset(5);
    Batcher<double> batcher(data, 3, false, 1);
    CHECK(drawSamples(batcher, 4) == std::vector<Index>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1});
    CHECK(batcher.epoch() == Approx(12.0 / 5.0));

    Batcher<double> whole(data, 5, false, 1);
    Matrix<double> x, y;
    for (int step = 0; step < 3; ++step) {
        whole.next(x, y);
        CHECK(x == data.inputs);
        CHECK(y == data.targets);
    }
}

TEST_CASE("batcher keeps batches full across epochs for non-divisible sizes", "[data]") {
    const Dataset data = taggedDataset(7);
    Batcher<float> batcher(data, 3, true, 4);
    const std::vector<Index> drawn = drawSamples(batcher, 7);  // 21 samples: exactly 3 epochs
    for (int epoch = 0; epoch < 3; ++epoch) {
        std::vector<Index> slice(drawn.begin() + 7 * epoch, drawn.begin() + 7 * (epoch + 1));
        std::sort(slice.begin(), slice.end());
        CHECK(slice == std::vector<Index>{0, 1, 2, 3, 4, 5, 6});
    }
    // Each epoch is a fresh permutation.
    CHECK(std::vector<Index>(drawn.begin(), drawn.begin() + 7) !=
          std::vector<Index>(drawn.begin() + 7, drawn.begin() + 14));
}

TEST_CASE("batcher is deterministic by seed and restorable from its position", "[data]") {
    const Dataset data = taggedDataset(10);
    Batcher<double> first(data, 4, true, 11), second(data, 4, true, 11), other(data, 4, true, 12);
    const std::vector<Index> drawn = drawSamples(first, 6);
    CHECK(drawSamples(second, 6) == drawn);
    CHECK(drawSamples(other, 6) != drawn);

    Batcher<double> resumed(data, 4, true, 11);
    resumed.setPosition(8);
    CHECK(drawSamples(resumed, 4) == std::vector<Index>(drawn.begin() + 8, drawn.end()));
}

TEST_CASE("batcher does not reallocate its outputs after the first batch", "[data]") {
    const Dataset data = taggedDataset(10);
    Batcher<float> batcher(data, 4, true, 1);
    Matrix<float> x, y;
    batcher.next(x, y);
    const float* inputs = x.data();
    const float* targets = y.data();
    for (int step = 0; step < 5; ++step) batcher.next(x, y);
    CHECK(x.data() == inputs);
    CHECK(y.data() == targets);
}

TEST_CASE("batcher refuses batches larger than the data", "[data]") {
    const Dataset data = taggedDataset(10);
    CHECK_THROWS_WITH(Batcher<float>(data, 11, true, 1),
                      Contains("batch size 11 is larger than the data set (10 samples in 'tagged')"));
    CHECK_THROWS_WITH(Batcher<float>(data, 0, true, 1), Contains("batch size must be at least 1"));
}

namespace {

/// N sequences of T steps x 2 features, input value 100 s + 10 t + f; targets 1000 s + t per step (Tt = T) or
/// 1000 s per sequence (Tt = 1).
Dataset taggedSequences(Index samples, Index timesteps, Index targetTimesteps) {
    Dataset data;
    data.timesteps = timesteps;
    data.targetTimesteps = targetTimesteps;
    data.inputs.resize(2 * timesteps, samples);
    data.targets.resize(targetTimesteps, samples);
    for (Index sample = 0; sample < samples; ++sample) {
        for (Index t = 0; t < timesteps; ++t)
            for (Index f = 0; f < 2; ++f) data.inputs(2 * t + f, sample) = 100.0 * sample + 10.0 * t + f;
        for (Index t = 0; t < targetTimesteps; ++t) data.targets(t, sample) = 1000.0 * sample + t;
    }
    data.description = "tagged sequences";
    return data;
}

}  // namespace

TEST_CASE("batcher serves sequences timestep-major: step t of sample b is column t * batch + b", "[data][sequence]") {
    const Index timesteps = 3, batch = 4;
    for (Index targetTimesteps : {timesteps, Index{1}}) {
        CAPTURE(targetTimesteps);
        const Dataset data = taggedSequences(6, timesteps, targetTimesteps);
        Batcher<double> batcher(data, batch, true, 5);
        Matrix<double> x, y;
        for (int step = 0; step < 3; ++step) {
            batcher.next(x, y);
            REQUIRE(x.rows() == 2);
            REQUIRE(x.cols() == timesteps * batch);
            REQUIRE(y.rows() == 1);
            REQUIRE(y.cols() == targetTimesteps * batch);
            for (Index b = 0; b < batch; ++b) {
                const Index sample = batcher.lastIndices()[static_cast<std::size_t>(b)];
                for (Index t = 0; t < timesteps; ++t)
                    for (Index f = 0; f < 2; ++f) REQUIRE(x(f, t * batch + b) == 100.0 * sample + 10.0 * t + f);
                for (Index t = 0; t < targetTimesteps; ++t) REQUIRE(y(0, t * batch + b) == 1000.0 * sample + t);
            }
        }
    }

    SECTION("hand check of one unshuffled batch") {
        const Dataset data = taggedSequences(2, 2, 2);
        Batcher<float> batcher(data, 2, false, 1);
        Matrix<float> x, y;
        batcher.next(x, y);
        Matrix<float> expectedX(2, 4), expectedY(1, 4);
        expectedX << 0, 100, 10, 110,  // feature 0: (t0, s0), (t0, s1), (t1, s0), (t1, s1)
            1, 101, 11, 111;
        expectedY << 0, 1000, 1, 1001;
        CHECK(x == expectedX);
        CHECK(y == expectedY);
    }
}

TEST_CASE("batcher keeps NaN (masked) sequence targets and does not reallocate", "[data][sequence]") {
    Dataset data = taggedSequences(5, 3, 3);
    data.targets(1, 2) = std::numeric_limits<double>::quiet_NaN();
    Batcher<float> batcher(data, 5, false, 1);
    Matrix<float> x, y;
    batcher.next(x, y);
    CHECK(std::isnan(y(0, 1 * 5 + 2)));
    const float* inputs = x.data();
    const float* targets = y.data();
    for (int step = 0; step < 4; ++step) batcher.next(x, y);
    CHECK(x.data() == inputs);
    CHECK(y.data() == targets);
}

TEST_CASE("batcher refuses an inconsistent sequence layout", "[data][sequence]") {
    Dataset data = taggedSequences(4, 3, 3);
    data.targetTimesteps = 2;
    CHECK_THROWS_WITH(Batcher<float>(data, 2, false, 1),
                      Contains("cannot make batches of 'tagged sequences'") && Contains("targetTimesteps must be 1"));
}
