#pragma once
/// @file dataset.hpp
/// In-memory data sets: synthetic generators, CSV and HDF5 loaders, finiteness check and validation split.

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/tensor.hpp"

namespace gradlab::data {

/// A whole dataset in float64, samples as columns.
struct Dataset {
    /// [features x samples].
    Eigen::MatrixXd inputs;
    /// Regression: [outputs x samples]; classification: [1 x samples] of class indices 0..classes-1.
    Eigen::MatrixXd targets;
    /// Number of classes; 0 for regression.
    Index classes = 0;
    /// One line saying where the data came from, e.g. "random_regression: 64 samples, x~N(0,1)[1000], ...".
    std::string description;

    /// Number of samples (columns).
    Index samples() const { return inputs.cols(); }
    /// Number of input features (rows of inputs).
    Index features() const { return inputs.rows(); }
    /// Number of target rows: outputs for regression, 1 for classification.
    Index outputs() const { return targets.rows(); }
    /// True for class-index targets.
    bool classification() const { return classes > 0; }
};

/// x, y ~ N(0, 1) independently: the classic two-layer example. Draws x first (sample by sample, each
/// sample's features in order), then y the same way, all from one gradlab::Random(seed).
Dataset makeRandomRegression(Index samples, Index inputs, Index outputs, std::uint64_t seed);

/// x ~ N(0, 1); y = f(x) + N(0, noiseStd^2) with f a fixed random teacher MLP: tanh hidden layers of the
/// given widths with weights N(0, 1/fan_in) and zero bias, then a linear output layer. Draw order: x, then
/// each layer's weights (column-major), then the noise.
Dataset makeTeacher(Index samples, Index inputs, Index outputs, const std::vector<Index>& hidden, double noiseStd,
                    std::uint64_t seed);

/// 2-D interleaved spirals (the CS231n set): class c's i-th of n points has radius r = i/(n-1) and angle
/// t = 4c + 4i/(n-1) + N(0, noise^2), x = (r sin t, r cos t). Samples are split as evenly as possible over
/// classes (the first samples % classes classes get one more), stored class after class.
Dataset makeSpirals(Index samples, Index classes, double noise, std::uint64_t seed);

/// How to read a CSV file.
struct CsvSpec {
    /// Whether the first line names the columns.
    bool header = true;
    /// Target columns: names (with a header) or 0-based indices as strings; "-1" is the last column.
    /// Empty means the last column. The other columns are the inputs, in file order.
    std::vector<std::string> targetColumns;
    /// Class-index targets (one target column of non-negative integers) instead of regression.
    bool classification = false;
    /// Field separator.
    char delimiter = ',';
};

/// Loads a CSV file of numbers (fields may be double-quoted; blank lines are skipped). Throws Error with the
/// position, e.g. "data.csv:17: expected 5 columns, found 4", "data.csv:3: column 'x2': 'abc' is not a number".
Dataset loadCsv(const std::string& path, const CsvSpec& spec);

/// Loads two datasets of an HDF5 file stored [samples x features] (row-major, what numpy writes; extra
/// trailing dimensions are flattened) or 1-D [samples]; any integer or float type. Throws Error naming the
/// file for a missing file, a non-HDF5 file, a missing dataset (listing those at the root), a sample count
/// mismatch, a non-numeric type or bad class labels.
Dataset loadHdf5(const std::string& path, const std::string& inputsDataset, const std::string& targetsDataset,
                 bool classification);

/// Throws Error naming `source`, the matrix (inputs/targets), the sample and feature index of the first NaN or
/// infinity, e.g. "data.csv: inputs sample 3, feature 1 is NaN".
void checkFinite(const Dataset& dataset, const std::string& source);

/// A training set and a held-out validation set.
struct Split {
    /// The samples trained on.
    Dataset train;
    /// The held-out samples (0 columns when the fraction is 0).
    Dataset validation;
};

/// Shuffles the samples with gradlab::Random(seed) and holds out round(fraction * samples) of them, each part
/// keeping the original sample order. fraction must be in [0, 1) and leave at least one training sample.
Split splitValidation(const Dataset& dataset, double fraction, std::uint64_t seed);

}  // namespace gradlab::data
