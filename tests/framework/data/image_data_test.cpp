// Preparing image sets: subsets, pixel scaling, and the flat / rows / pixels / permuted_pixels views, on small
// generated IDX files, each checked against a direct loop over the stored bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "data/batcher.hpp"
#include "data/image_data.hpp"
#include "data/idx.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab::data;
using Catch::Matchers::Contains;
using gradlab::Index;
using gradlab::testing::scratchPath;

namespace {

/// `count` random images of rows x cols with labels cycling 0..classes-1, written raw under `stem`.
ImageSource writeRandomSet(const std::string& stem, Index count, Index rows, Index cols, Index classes,
                           std::uint64_t seed) {
    gradlab::Random random(seed);
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(count * rows * cols)), labels;
    for (auto& pixel : pixels) pixel = static_cast<std::uint8_t>(random.below(256));
    for (Index i = 0; i < count; ++i) labels.push_back(static_cast<std::uint8_t>(i % classes));
    ImageSource source;
    source.kind = "idx";
    source.images = scratchPath(stem + "-images");
    source.labels = scratchPath(stem + "-labels");
    writeIdx(source.images, {static_cast<std::uint32_t>(count), static_cast<std::uint32_t>(rows),
                             static_cast<std::uint32_t>(cols)},
             pixels, false);
    writeIdx(source.labels, {static_cast<std::uint32_t>(count)}, labels, false);
    return source;
}

}  // namespace

TEST_CASE("image data: subset takes the first N, or a class-balanced sample in file order", "[data][images]") {
    const ImageSource source = writeRandomSet("subset", 50, 2, 2, 5, 1);
    const auto set = loadIdxImageSet(source.images, source.labels);
    CHECK(subsetIndices(*set, 0, false, 0).size() == 50);
    CHECK(subsetIndices(*set, 7, false, 0) == std::vector<Index>{0, 1, 2, 3, 4, 5, 6});

    const std::vector<Index> balanced = subsetIndices(*set, 12, true, 3);
    REQUIRE(balanced.size() == 12);
    CHECK(std::is_sorted(balanced.begin(), balanced.end()));
    CHECK(std::set<Index>(balanced.begin(), balanced.end()).size() == 12);
    std::vector<int> perClass(5, 0);
    for (Index index : balanced) ++perClass[set->labels[static_cast<std::size_t>(index)]];
    CHECK(perClass == std::vector<int>{3, 3, 2, 2, 2});  // 12 = 5 x 2 + 2: the first two classes get one more
    CHECK(subsetIndices(*set, 12, true, 3) == balanced);  // the seed fixes the sample
    CHECK(subsetIndices(*set, 12, true, 4) != balanced);
    CHECK(subsetIndices(*set, 50, true, 0).size() == 50);  // 10 per class: exactly what the file has

    CHECK_THROWS_WITH(subsetIndices(*set, 51, false, 0), Contains("subset 51 of 50 images; expected 1..50"));
    // Class 2 has a single image: a balanced sample of 9 over 3 classes needs 3 of it.
    std::vector<std::uint8_t> labels(50, 0);
    for (int i = 0; i < 50; ++i) labels[static_cast<std::size_t>(i)] = i == 7 ? 2 : static_cast<std::uint8_t>(i % 2);
    const std::string skewedLabels = scratchPath("subset-skewed-labels");
    writeIdx(skewedLabels, {50}, labels, false);
    const auto skewed = loadIdxImageSet(source.images, skewedLabels);
    CHECK_THROWS_WITH(subsetIndices(*skewed, 9, true, 0),
                      Contains("'" + skewedLabels + "': a balanced subset of 9 needs 3 images of class 2, the file "
                               "has 1"));
}

TEST_CASE("image data: pixel statistics equal a direct loop over the bytes", "[data][images]") {
    const ImageSource source = writeRandomSet("statistics", 40, 3, 5, 3, 2);
    const auto set = loadIdxImageSet(source.images, source.labels);
    const std::vector<Index> samples{1, 4, 9, 30};
    double sum = 0, squares = 0, count = 0;
    for (Index sample : samples)
        for (Index k = 0; k < 15; ++k) {
            const double x = set->pixels[static_cast<std::size_t>(sample * 15 + k)] / 255.0;
            sum += x, squares += x * x, count += 1;
        }
    const double mean = sum / count, deviation = std::sqrt(squares / count - mean * mean);
    const PixelStatistics statistics = pixelStatistics(*set, samples);
    CHECK(statistics.mean == Approx(mean).epsilon(1e-12));
    CHECK(statistics.std == Approx(deviation).epsilon(1e-12));
}

TEST_CASE("image data: the views lay every image out as its timesteps, checked through the Batcher",
          "[data][images]") {
    // 6 images of 3 x 4 pixels; the Batcher gives the layers' layout: step t of sample b is column t B + b.
    const ImageSource source = writeRandomSet("views", 6, 3, 4, 2, 3);
    const auto set = loadIdxImageSet(source.images, source.labels);
    const std::string name = GENERATE(as<std::string>{}, "flat", "rows", "pixels", "permuted_pixels");
    CAPTURE(name);
    ImagePreparation preparation;
    preparation.normalize = PixelScaling::none;
    preparation.view = name == "flat"     ? ImageView::flat
                       : name == "rows"   ? ImageView::rows
                       : name == "pixels" ? ImageView::pixels
                                                       : ImageView::permutedPixels;
    preparation.permutationSeed = 11;
    CHECK(imageViewName(preparation.view) == name);
    const Dataset dataset = loadImages(source, preparation, false).train;
    const Index expectedSteps = name == "flat" ? 1 : name == "rows" ? 3 : 12;
    REQUIRE(dataset.timesteps == expectedSteps);
    REQUIRE(dataset.features() == 12 / expectedSteps);
    REQUIRE(dataset.targetTimesteps == 1);  // the class is read at the last step
    CHECK(dataset.classes == 2);

    const std::vector<Index> order = pixelOrder(12, preparation.view, 11);
    std::vector<Index> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (Index k = 0; k < 12; ++k) CHECK(sorted[static_cast<std::size_t>(k)] == k);  // a permutation
    if (preparation.view == ImageView::permutedPixels)
        CHECK(order != sorted);
    else
        CHECK(order == sorted);

    Batcher<double> batcher(dataset, 6, false, 0);
    gradlab::Matrix<double> x, y;
    batcher.next(x, y);
    const Index features = dataset.features();
    REQUIRE(x.rows() == features);
    REQUIRE(x.cols() == expectedSteps * 6);
    for (Index b = 0; b < 6; ++b) {
        CHECK(y(0, b) == set->labels[static_cast<std::size_t>(b)]);
        for (Index t = 0; t < expectedSteps; ++t)
            for (Index f = 0; f < features; ++f) {
                // rows: step t is image row t; pixels: step t is pixel t; permuted: pixel order[t], the same for all.
                const Index pixel = order[static_cast<std::size_t>(t * features + f)];
                CHECK(x(f, t * 6 + b) == set->pixels[static_cast<std::size_t>(b * 12 + pixel)]);
            }
    }
}

TEST_CASE("image data: none, unit and standard scaling, the test set scaled with the training constants",
          "[data][images]") {
    ImageSource source = writeRandomSet("scaling-train", 30, 2, 3, 3, 4);
    const ImageSource test = writeRandomSet("scaling-test", 9, 2, 3, 3, 5);
    source.testImages = test.images;
    source.testLabels = test.labels;
    const auto trainSet = loadIdxImageSet(source.images, source.labels);
    const auto testSet = loadIdxImageSet(test.images, test.labels);
    ImagePreparation preparation;
    preparation.view = ImageView::permutedPixels;
    preparation.permutationSeed = 2;

    preparation.normalize = PixelScaling::none;
    const ImageSplits raw = loadImages(source, preparation, true);
    preparation.normalize = PixelScaling::unit;
    const ImageSplits unit = loadImages(source, preparation, true);
    preparation.normalize = PixelScaling::standard;
    const ImageSplits standard = loadImages(source, preparation, true);
    REQUIRE(raw.test.samples() == 9);
    REQUIRE(standard.test.samples() == 9);
    CHECK(raw.train.inputs.maxCoeff() > 200);  // 180 random bytes reach above 200
    CHECK((unit.train.inputs - raw.train.inputs / 255.0).cwiseAbs().maxCoeff() < 1e-15);
    CHECK((unit.test.inputs - raw.test.inputs / 255.0).cwiseAbs().maxCoeff() < 1e-15);

    const double mean = unit.train.inputs.mean();
    const double deviation = std::sqrt((unit.train.inputs.array() - mean).square().mean());
    CHECK(std::abs(standard.train.inputs.mean()) < 1e-12);
    CHECK(std::sqrt(standard.train.inputs.array().square().mean()) == Approx(1.0).epsilon(1e-12));
    // The test set with the training set's mean and std, not its own.
    const Eigen::MatrixXd expected = (unit.test.inputs.array() - mean) / deviation;
    CHECK((standard.test.inputs - expected).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(std::abs(standard.test.inputs.mean()) > 1e-6);
    // Same permutation for the test images.
    const std::vector<Index> order = pixelOrder(6, ImageView::permutedPixels, 2);
    for (Index k = 0; k < 6; ++k)
        CHECK(raw.test.inputs(k, 4) == testSet->pixels[static_cast<std::size_t>(4 * 6 + order[static_cast<std::size_t>(k)])]);
    CHECK(raw.test.targets(0, 4) == testSet->labels[4]);
    CHECK(trainSet->count == 30);

    SECTION("a subset uses the training constants of the images it keeps") {
        preparation.subset = 10;
        const ImageSplits subset = loadImages(source, preparation, true);
        CHECK(subset.train.samples() == 10);
        CHECK(subset.test.samples() == 9);  // the test split is never cut
        CHECK(std::abs(subset.train.inputs.mean()) < 1e-12);
    }
    SECTION("test images of another size are refused") {
        const ImageSource other = writeRandomSet("scaling-other", 9, 3, 2, 3, 5);
        source.testImages = other.images;
        source.testLabels = other.labels;
        CHECK_THROWS_WITH(loadImages(source, preparation, true),
                          Contains("'" + other.images + "' holds images of 3 x 2 pixels, but the training images '" +
                                   source.images + "' are 2 x 3"));
    }
    SECTION("an idx source without test files cannot give a test set") {
        source.testImages.clear();
        CHECK_THROWS_WITH(loadImages(source, preparation, true), Contains("needs test_images and test_labels"));
        CHECK(loadImages(source, preparation, false).test.samples() == 0);
    }
}

TEST_CASE("image data: one-hot targets hold a 1 in the row of each image's class, train and test alike",
          "[data][images]") {
    ImageSource source = writeRandomSet("onehot-train", 20, 2, 2, 4, 6);
    const ImageSource test = writeRandomSet("onehot-test", 7, 2, 2, 4, 7);
    source.testImages = test.images;
    source.testLabels = test.labels;
    ImagePreparation preparation;
    const ImageSplits indices = loadImages(source, preparation, true);
    preparation.oneHotTargets = true;
    const ImageSplits oneHot = loadImages(source, preparation, true);
    REQUIRE(indices.train.targets.rows() == 1);
    REQUIRE(oneHot.train.targets.rows() == 4);
    REQUIRE(oneHot.test.targets.rows() == 4);
    CHECK(oneHot.train.classes == 4);
    CHECK(oneHot.train.outputs() == 4);
    CHECK(oneHot.train.inputs == indices.train.inputs);
    const auto check = [](const Dataset& classes, const Dataset& columns) {
        for (Index b = 0; b < classes.samples(); ++b)
            for (Index c = 0; c < 4; ++c)
                CHECK(columns.targets(c, b) == (static_cast<Index>(classes.targets(0, b)) == c ? 1.0 : 0.0));
    };
    check(indices.train, oneHot.train);
    check(indices.test, oneHot.test);
    CHECK_THAT(oneHot.train.description, Contains("4 classes (one-hot targets)"));
}
