#pragma once
/// @file image_data.hpp
/// Labelled image sets (IDX files, Fashion-MNIST) prepared for training: pixel scaling, a subset of the training
/// images, and the view that turns an image into a feature vector or a sequence.

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/idx.hpp"

namespace gradlab::data {

/// How pixels p in 0..255 become inputs x.
enum class PixelScaling {
    none,     ///< x = p
    unit,     ///< x = p / 255, in [0, 1]
    standard  ///< x = (p / 255 - mean) / std, mean and std of the training images' pixels after scaling to [0, 1]
};

/// How an image of rows x cols pixels (P = rows cols) is presented to the model, in the Dataset's
/// timestep-major layout (step t holds input rows [t F, (t+1) F)). The class target is one per sequence, read
/// at the last step (a recurrent layer with return_sequences: false).
enum class ImageView {
    flat,           ///< T = 1, F = P: the row-major pixels as one vector (an MLP's input)
    rows,           ///< T = rows, F = cols: step t is image row t
    pixels,         ///< T = P, F = 1: one pixel per step in row-major order (sequential MNIST, Le et al. 2015)
    permutedPixels  ///< T = P, F = 1: one fixed random permutation of the pixels, the same for every image (pMNIST)
};

/// Names as configs spell them: "none", "unit", "standard"; "flat", "rows", "pixels", "permuted_pixels".
std::string pixelScalingName(PixelScaling scaling);
std::string imageViewName(ImageView view);

/// What to do with the images once read.
struct ImagePreparation {
    PixelScaling normalize = PixelScaling::unit;
    /// Training images used: 0 for all, else N (the first N, or a class-balanced sample of N).
    Index subset = 0;
    /// With subset: a class-balanced random sample (floor(N / classes) per class, one more for the first
    /// N mod classes classes) drawn with subsetSeed, kept in file order, instead of the first N.
    bool balancedSubset = false;
    std::uint64_t subsetSeed = 0;
    ImageView view = ImageView::flat;
    /// The permutation of ImageView::permutedPixels: Fisher-Yates with gradlab::Random(permutationSeed).
    std::uint64_t permutationSeed = 0;
    /// Targets as one-hot columns [classes x n] (for mse or sse on class data) instead of class indices [1 x n].
    bool oneHotTargets = false;
};

/// Where the images come from.
struct ImageSource {
    std::string kind;  ///< "idx" or "fashion_mnist"
    std::string images, labels;          ///< idx: the training files
    std::string testImages, testLabels;  ///< idx: the test files ("" when there are none)
    std::string folder;                  ///< fashion_mnist: the folder of the four files
};

/// The training images and, when asked, the test images, prepared alike (the same scaling constants, taken from
/// the training images, and the same pixel order).
struct ImageSplits {
    Dataset train;
    Dataset test;  ///< 0 samples when the test set was not asked for
};

/// The indices of the images a subset takes, in file order: all of them when count is 0, the first `count`, or a
/// class-balanced sample. Throws Error naming the file when count exceeds the images, or a class has fewer images
/// than its share of a balanced sample.
std::vector<Index> subsetIndices(const ImageSet& set, Index count, bool balanced, std::uint64_t seed);

/// Mean and standard deviation (population) of the pixels of `samples` of `set`, scaled to [0, 1]; exact, from a
/// histogram of the 256 byte values.
struct PixelStatistics {
    double mean = 0;
    double std = 0;
};
PixelStatistics pixelStatistics(const ImageSet& set, const std::vector<Index>& samples);

/// The input row order of a view: row k of a sample's column is pixel order[k] (row-major index); the identity
/// but for permutedPixels.
std::vector<Index> pixelOrder(Index pixels, ImageView view, std::uint64_t permutationSeed);

/// The images `samples` of `set` as a Dataset, pixel p of row k (pixel order[k]) becoming scale * p + shift:
/// inputs [P x n] laid out as the view says (timesteps T, features P / T), targets [1 x n] class indices or,
/// with `oneHot`, [classes x n] one-hot columns (1 in the row of the class, 0 elsewhere).
Dataset imagesToDataset(const ImageSet& set, const std::vector<Index>& samples, const std::vector<Index>& order,
                        ImageView view, double scale, double shift, Index classes, bool oneHot,
                        const std::string& description);

/// Reads the source's images (cached per process, see loadIdxImageSet) and prepares them. The test set is read
/// only when `withTest`; it must have the training images' size and at most their number of classes. Throws Error
/// naming the file for every problem of the files (see loadIdxImageSet, fashionMnistFile) and for a test set
/// asked of an idx source without test_images/test_labels.
ImageSplits loadImages(const ImageSource& source, const ImagePreparation& preparation, bool withTest);

}  // namespace gradlab::data
