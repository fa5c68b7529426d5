/// @file image_data.cpp
/// Image sets prepared for training: subset, pixel scaling, view (flat, rows, pixels, permuted pixels).

#include "data/image_data.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <sstream>

#include "data/fashion_mnist.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

std::string formatNumber(double value) {
    std::ostringstream stream;
    stream.precision(4);
    stream << value;
    return stream.str();
}

/// Timesteps of a view for images of rows x cols.
Index viewTimesteps(ImageView view, Index rows, Index cols) {
    switch (view) {
        case ImageView::flat: return 1;
        case ImageView::rows: return rows;
        case ImageView::pixels:
        case ImageView::permutedPixels: return rows * cols;
    }
    return 1;
}

}  // namespace

std::string pixelScalingName(PixelScaling scaling) {
    switch (scaling) {
        case PixelScaling::none: return "none";
        case PixelScaling::unit: return "unit";
        case PixelScaling::standard: return "standard";
    }
    return "?";
}

std::string imageViewName(ImageView view) {
    switch (view) {
        case ImageView::flat: return "flat";
        case ImageView::rows: return "rows";
        case ImageView::pixels: return "pixels";
        case ImageView::permutedPixels: return "permuted_pixels";
    }
    return "?";
}

std::vector<Index> subsetIndices(const ImageSet& set, Index count, bool balanced, std::uint64_t seed) {
    std::vector<Index> indices;
    if (count == 0) {
        indices.resize(static_cast<std::size_t>(set.count));
        std::iota(indices.begin(), indices.end(), Index{0});
        return indices;
    }
    if (count < 0 || count > set.count)
        throw Error("'" + set.imagesPath + "': subset " + std::to_string(count) + " of " + std::to_string(set.count) +
                    " images; expected 1.." + std::to_string(set.count) + " (or 0 for all)");
    if (!balanced) {
        indices.resize(static_cast<std::size_t>(count));
        std::iota(indices.begin(), indices.end(), Index{0});
        return indices;
    }
    std::vector<std::vector<Index>> byClass(static_cast<std::size_t>(set.classes));
    for (Index i = 0; i < set.count; ++i) byClass[set.labels[static_cast<std::size_t>(i)]].push_back(i);
    Random random(seed);
    for (Index c = 0; c < set.classes; ++c) {
        std::vector<Index>& members = byClass[static_cast<std::size_t>(c)];
        const Index share = count / set.classes + (c < count % set.classes ? 1 : 0);
        if (static_cast<Index>(members.size()) < share)
            throw Error("'" + set.labelsPath + "': a balanced subset of " + std::to_string(count) + " needs " +
                        std::to_string(share) + " images of class " + std::to_string(c) + ", the file has " +
                        std::to_string(members.size()));
        // A partial Fisher-Yates shuffle: the first `share` entries become a uniform sample without replacement.
        for (std::size_t k = 0; k < static_cast<std::size_t>(share); ++k)
            std::swap(members[k], members[k + random.below(members.size() - k)]);
        indices.insert(indices.end(), members.begin(), members.begin() + share);
    }
    std::sort(indices.begin(), indices.end());
    return indices;
}

PixelStatistics pixelStatistics(const ImageSet& set, const std::vector<Index>& samples) {
    std::array<std::uint64_t, 256> histogram{};
    const Index pixels = set.pixelsPerImage();
    for (Index sample : samples) {
        const std::uint8_t* image = set.pixels.data() + sample * pixels;
        for (Index k = 0; k < pixels; ++k) ++histogram[image[k]];
    }
    double total = 0, sum = 0, squares = 0;
    for (int value = 0; value < 256; ++value) {
        const double count = static_cast<double>(histogram[static_cast<std::size_t>(value)]);
        const double x = value / 255.0;
        total += count;
        sum += count * x;
        squares += count * x * x;
    }
    PixelStatistics statistics;
    if (total == 0) return statistics;
    statistics.mean = sum / total;
    statistics.std = std::sqrt(std::max(0.0, squares / total - statistics.mean * statistics.mean));
    return statistics;
}

std::vector<Index> pixelOrder(Index pixels, ImageView view, std::uint64_t permutationSeed) {
    std::vector<Index> order(static_cast<std::size_t>(pixels));
    std::iota(order.begin(), order.end(), Index{0});
    if (view == ImageView::permutedPixels) {
        Random random(permutationSeed);
        for (std::size_t index = order.size(); index > 1; --index)
            std::swap(order[index - 1], order[random.below(index)]);
    }
    return order;
}

Dataset imagesToDataset(const ImageSet& set, const std::vector<Index>& samples, const std::vector<Index>& order,
                        ImageView view, double scale, double shift, Index classes, bool oneHot,
                        const std::string& description) {
    const Index pixels = set.pixelsPerImage();
    std::array<double, 256> value{};
    for (int p = 0; p < 256; ++p) value[static_cast<std::size_t>(p)] = scale * p + shift;
    Dataset dataset;
    dataset.inputs.resize(pixels, static_cast<Index>(samples.size()));
    if (oneHot) dataset.targets.setZero(classes, static_cast<Index>(samples.size()));
    else dataset.targets.resize(1, static_cast<Index>(samples.size()));
    const bool identityOrder = view != ImageView::permutedPixels;
    for (std::size_t column = 0; column < samples.size(); ++column) {
        const std::uint8_t* image = set.pixels.data() + samples[column] * pixels;
        double* out = dataset.inputs.col(static_cast<Index>(column)).data();
        if (identityOrder)
            for (Index k = 0; k < pixels; ++k) out[k] = value[image[k]];
        else
            for (Index k = 0; k < pixels; ++k) out[k] = value[image[order[static_cast<std::size_t>(k)]]];
        const Index label = set.labels[static_cast<std::size_t>(samples[column])];
        if (oneHot) dataset.targets(label, static_cast<Index>(column)) = 1.0;
        else dataset.targets(0, static_cast<Index>(column)) = static_cast<double>(label);
    }
    dataset.classes = classes;
    dataset.timesteps = viewTimesteps(view, set.rows, set.cols);
    dataset.targetTimesteps = 1;
    dataset.description = description;
    return dataset;
}

ImageSplits loadImages(const ImageSource& source, const ImagePreparation& preparation, bool withTest) {
    std::shared_ptr<const ImageSet> train, test;
    if (source.kind == "fashion_mnist") {
        FashionMnist set = loadFashionMnist(source.folder, withTest);
        train = set.train;
        test = set.test;
    } else {
        train = loadIdxImageSet(source.images, source.labels);
        if (withTest) {
            if (source.testImages.empty() || source.testLabels.empty())
                throw Error("idx data '" + source.images + "': test: true needs test_images and test_labels");
            test = loadIdxImageSet(source.testImages, source.testLabels);
        }
    }
    if (test && (test->rows != train->rows || test->cols != train->cols))
        throw Error("'" + test->imagesPath + "' holds images of " + std::to_string(test->rows) + " x " +
                    std::to_string(test->cols) + " pixels, but the training images '" + train->imagesPath +
                    "' are " + std::to_string(train->rows) + " x " + std::to_string(train->cols));
    if (test && test->classes > train->classes)
        throw Error("'" + test->labelsPath + "' has labels up to " + std::to_string(test->classes - 1) +
                    ", but the training labels '" + train->labelsPath + "' only go up to " +
                    std::to_string(train->classes - 1));

    const std::vector<Index> samples =
        subsetIndices(*train, preparation.subset, preparation.balancedSubset, preparation.subsetSeed);
    double scale = 1.0, shift = 0.0;
    std::string scaling = pixelScalingName(preparation.normalize);
    if (preparation.normalize == PixelScaling::unit) scale = 1.0 / 255.0;
    if (preparation.normalize == PixelScaling::standard) {
        const PixelStatistics statistics = pixelStatistics(*train, samples);
        if (!(statistics.std > 0))
            throw Error("'" + train->imagesPath + "': normalize: standard, but every training pixel has the same "
                        "value (std 0)");
        scale = 1.0 / (255.0 * statistics.std);
        shift = -statistics.mean / statistics.std;
        scaling += " (mean " + formatNumber(statistics.mean) + ", std " + formatNumber(statistics.std) + ")";
    }
    const std::vector<Index> order =
        pixelOrder(train->pixelsPerImage(), preparation.view, preparation.permutationSeed);
    const Index timesteps = viewTimesteps(preparation.view, train->rows, train->cols);
    const std::string shape = std::to_string(train->rows) + "x" + std::to_string(train->cols) + " images, " +
                              std::to_string(train->classes) + " classes" +
                              (preparation.oneHotTargets ? " (one-hot targets)" : "") + ", normalize " + scaling + ", view " +
                              imageViewName(preparation.view) + " (T = " + std::to_string(timesteps) + " x " +
                              std::to_string(train->pixelsPerImage() / timesteps) + ")" +
                              (preparation.view == ImageView::permutedPixels
                                   ? ", permutation_seed " + std::to_string(preparation.permutationSeed)
                                   : "");
    ImageSplits splits;
    const std::string subset =
        preparation.subset == 0 ? ""
                                : (preparation.balancedSubset ? " (balanced subset, seed " +
                                                                    std::to_string(preparation.subsetSeed) + ")"
                                                              : " (the first of " + std::to_string(train->count) + ")");
    splits.train = imagesToDataset(*train, samples, order, preparation.view, scale, shift, train->classes,
                                   preparation.oneHotTargets, source.kind + ": " + train->imagesPath + ", " + std::to_string(samples.size()) +
                                       " training images" + subset + ", " + shape);
    if (test) {
        const std::vector<Index> all = subsetIndices(*test, 0, false, 0);
        splits.test = imagesToDataset(*test, all, order, preparation.view, scale, shift, train->classes,
                                      preparation.oneHotTargets, source.kind + ": " + test->imagesPath + ", " + std::to_string(all.size()) +
                                          " test images, " + shape);
    }
    return splits;
}

}  // namespace gradlab::data
