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
///
/// Sequence data (timesteps > 1 or targetTimesteps > 1) keeps each sample's whole sequence in its column,
/// timestep-major: step t of a sample is rows [t F, (t+1) F) of its input column, F = features(), and rows
/// [t K, (t+1) K) of its target column, K = outputs(). The Batcher turns such columns into the layers'
/// [F x (T * batch)] layout. With timesteps == targetTimesteps == 1 every field means what it always meant.
struct Dataset {
    /// [(timesteps * features) x samples]; [features x samples] when timesteps == 1.
    Eigen::MatrixXd inputs;
    /// Regression: [(targetTimesteps * outputs) x samples]; classification: [targetTimesteps x samples] of class
    /// indices 0..classes-1. With targetTimesteps > 1 a NaN entry means "no target at this step" (masked).
    Eigen::MatrixXd targets;
    /// Number of classes; 0 for regression.
    Index classes = 0;
    /// Timesteps T of every input sequence; 1 for non-sequence data.
    Index timesteps = 1;
    /// Timesteps of the targets: 1 (one target per sequence, e.g. the adding problem) or timesteps (a target
    /// per step, e.g. next-step prediction).
    Index targetTimesteps = 1;
    /// One line saying where the data came from, e.g. "random_regression: 64 samples, x~N(0,1)[1000], ...".
    std::string description;

    /// Number of samples (columns).
    Index samples() const { return inputs.cols(); }
    /// Number of input features per timestep (rows of inputs / timesteps).
    Index features() const { return timesteps > 0 ? inputs.rows() / timesteps : inputs.rows(); }
    /// Number of targets per target timestep: outputs for regression, 1 for classification.
    Index outputs() const { return targetTimesteps > 0 ? targets.rows() / targetTimesteps : targets.rows(); }
    /// True for class-index targets.
    bool classification() const { return classes > 0; }
    /// The shape of one sample as layers see it: Shape{features(), timesteps}.
    Shape inputShape() const { return Shape{features(), timesteps}; }
    /// True for sequence data (more than one input or target timestep).
    bool sequential() const { return timesteps > 1 || targetTimesteps > 1; }
};

/// Throws Error naming `source` unless the dataset's layout is consistent: timesteps >= 1, targetTimesteps
/// 1 or timesteps, inputs' rows a multiple of timesteps and targets' rows of targetTimesteps, and as many
/// target samples as input samples.
void checkLayout(const Dataset& dataset, const std::string& source);

/// x, y ~ N(0, 1) independently: the classic two-layer example. Draws x first (sample by sample, each
/// sample's features in order), then y the same way, all from one gradlab::Random(seed).
Dataset makeRandomRegression(Index samples, Index inputs, Index outputs, std::uint64_t seed, double inputStd = 1.0);

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
/// infinity, e.g. "data.csv: inputs sample 3, feature 1 is NaN"; for sequence data also the timestep,
/// "inputs sample 3, timestep 7, feature 1 is NaN". Targets with targetTimesteps > 1 may hold NaN (a masked
/// step, no target there); infinities are refused everywhere.
void checkFinite(const Dataset& dataset, const std::string& source);

/// Loads a sequence dataset from HDF5: inputs stored [samples x T x features] (numpy's row-major order, any
/// integer or float type), targets [samples x K] (or [samples]) for one target per sequence, or
/// [samples x T x K] for a target per step (NaN = masked step). Classification targets are class indices:
/// [samples] or [samples x 1] per sequence, [samples x T] or [samples x T x 1] per step. Throws Error naming
/// the file, the dataset, the shape found and the shape expected.
Dataset loadHdf5Sequences(const std::string& path, const std::string& inputsDataset,
                          const std::string& targetsDataset, bool classification);

/// The adding problem as in Le, Jaitly & Hinton 2015 (after Hochreiter & Schmidhuber 1997): T steps of 2
/// features, a value ~ U[0, 1) and a marker (0 or 1); exactly two markers, at two distinct positions drawn
/// uniformly from all T; target (one per sequence) the sum of the two marked values. Needs T >= 2.
/// Baseline: the best constant, 1, has MSE Var(u1 + u2) = 2/12 = 1/6 ~ 0.1667.
Dataset makeAddingSum(Index samples, Index timesteps, std::uint64_t seed);

/// The adding problem in the variant of Pascanu, Mikolov & Bengio 2013: as makeAddingSum, but the first marker
/// is drawn uniformly from the first 10% of the steps, [0, max(1, floor(T/10))), the second from the steps up
/// to half the sequence, [that bound, max(bound + 1, floor(T/2))), and the target is the mean of the two
/// marked values. Needs T >= 2. Baseline: the best constant, 1/2, has MSE Var((u1 + u2) / 2) = 1/24 ~ 0.0417.
Dataset makeAddingMean(Index samples, Index timesteps, std::uint64_t seed);

/// The copy-memory problem of Arjovsky, Shah & Bengio 2016 for a delay T: sequences of T + 20 steps, inputs
/// one-hot over 10 categories: 10 symbols drawn uniformly from 1..8, T - 1 blanks (0), the delimiter 9, 10
/// blanks. Targets at every step (targetTimesteps = T + 20, class indices, 10 classes): T + 10 blanks, then
/// the 10 symbols. Needs T >= 1. Baseline: the memoryless predictor (blank for T + 10 steps, then uniform over
/// 1..8) has cross-entropy 10 ln 8 / (T + 20) per step.
Dataset makeCopyMemory(Index samples, Index timesteps, std::uint64_t seed);

/// The temporal-order problem (Hochreiter & Schmidhuber 1997, experiment 6a, as used by Pascanu et al. 2013,
/// without the begin/end symbols): T steps, one-hot over 6 symbols a, b, c, d (distractors, drawn uniformly)
/// and X, Y (indices 4, 5); one relevant symbol (X or Y, uniformly) at a step drawn uniformly from
/// [floor(T/10), floor(T/5)] and one from [floor(T/2), floor(3T/5)]. Class (one per sequence) XX = 0, XY = 1,
/// YX = 2, YY = 3. Needs T >= 2. Baseline: chance accuracy 25%, cross-entropy ln 4.
Dataset makeTemporalOrder(Index samples, Index timesteps, std::uint64_t seed);

/// Next-step prediction of a noisy sine: per sequence a frequency w ~ U[0.1, 0.5) rad/step and a phase
/// p ~ U[0, 2 pi), the series s_u = sin(w u + p) + noise N(0, 1), u = 0..T; input x_t = s_t (one feature),
/// target y_t = s_{t+1} at every step (targetTimesteps = T). Baselines per step: predicting 0 has MSE
/// 1/2 + noise^2; repeating the input has MSE 1 - (sin 0.5 - sin 0.1) / 0.4 + 2 noise^2 ~ 0.0510 + 2 noise^2;
/// no predictor beats noise^2.
Dataset makeNoisySine(Index samples, Index timesteps, double noise, std::uint64_t seed);

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
