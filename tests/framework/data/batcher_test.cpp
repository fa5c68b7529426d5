#include <catch2/catch.hpp>

#include <algorithm>
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
