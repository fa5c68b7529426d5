#pragma once
/// @file batcher.hpp
/// Cuts a Dataset into full mini-batches, epoch after epoch.

#include <cstdint>
#include <vector>

#include "data/dataset.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab::data {

/// Serves mini-batches as consecutive slices of an endless stream of sample orders: epoch e uses order e,
/// a permutation of all samples (shuffled from seed and e, or 0..N-1 without shuffling), and a batch that
/// runs past the end of one order continues with the next. Every batch is full and every sample is used
/// equally. The whole state is position() (samples served), so setPosition() restores a checkpoint exactly.
/// The dataset is referenced, not copied: it must outlive the batcher.
template <typename Scalar>
class Batcher {
public:
    /// Throws Error if the dataset is empty, its inputs and targets disagree on the sample count, its layout is
    /// inconsistent (checkLayout), or batchSize is not in [1, samples].
    Batcher(const Dataset& dataset, Index batchSize, bool shuffle, std::uint64_t seed);

    /// A temporary dataset would dangle.
    Batcher(Dataset&& dataset, Index batchSize, bool shuffle, std::uint64_t seed) = delete;

    /// ensures: x is [features x (timesteps * batchSize)], y is [outputs x (targetTimesteps * batchSize)]
    /// (class indices for classification; NaN where a step has no target), both overwritten with the next
    /// batchSize samples in the layers' timestep-major layout: step t of the batch's b-th sample is column
    /// t * batchSize + b (for non-sequence data simply [features x batchSize], column b). Resized only when
    /// their shape differs, so nothing is allocated after the first call.
    void next(Matrix<Scalar>& x, Matrix<Scalar>& y);

    /// Samples served so far.
    std::uint64_t position() const { return position_; }

    /// Continues from `position` samples served, e.g. when resuming from a checkpoint.
    void setPosition(std::uint64_t position);

    /// Samples served divided by the dataset's size: 2.5 means two and a half passes.
    double epoch() const { return static_cast<double>(position_) / static_cast<double>(samples_); }

    /// Samples per batch.
    Index batchSize() const { return batchSize_; }

    /// Samples in the dataset.
    Index samples() const { return samples_; }

    /// Whether every epoch uses a fresh random permutation.
    bool shuffle() const { return shuffle_; }

    /// The seed the permutations are derived from.
    std::uint64_t seed() const { return seed_; }

    /// The sample indices of the last batch served by next(), in column order.
    const std::vector<Index>& lastIndices() const { return lastIndices_; }

private:
    void loadOrder(std::uint64_t epochIndex);

    const Dataset* dataset_;
    Index batchSize_;
    Index samples_;
    bool shuffle_;
    std::uint64_t seed_;
    std::uint64_t position_ = 0;
    std::uint64_t loadedEpoch_ = 0;  // the epoch whose order is in order_
    std::vector<Index> order_;
    std::vector<Index> lastIndices_;
};

extern template class Batcher<float>;
extern template class Batcher<double>;

}  // namespace gradlab::data
