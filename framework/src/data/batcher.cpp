#include "data/batcher.hpp"

#include <numeric>

#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

/// SplitMix64 finaliser: decorrelates the seeds of consecutive epochs.
std::uint64_t mixBits(std::uint64_t value) {
    value += 0x9E3779B97F4A7C15ULL;
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
    return value ^ (value >> 31);
}

}  // namespace

template <typename Scalar>
Batcher<Scalar>::Batcher(const Dataset& dataset, Index batchSize, bool shuffle, std::uint64_t seed)
    : dataset_(&dataset), batchSize_(batchSize), samples_(dataset.samples()), shuffle_(shuffle), seed_(seed) {
    if (samples_ == 0) throw Error("cannot make batches of '" + dataset.description + "': it has no samples");
    if (dataset.targets.cols() != samples_)
        throw Error("cannot make batches of '" + dataset.description + "': " + std::to_string(samples_) +
                    " input samples but " + std::to_string(dataset.targets.cols()) + " target samples");
    checkLayout(dataset, "cannot make batches of '" + dataset.description + "'");
    if (batchSize < 1) throw Error("batch size must be at least 1, got " + std::to_string(batchSize));
    if (batchSize > samples_)
        throw Error("batch size " + std::to_string(batchSize) + " is larger than the data set (" +
                    std::to_string(samples_) + " samples in '" + dataset.description +
                    "'); every batch must be full, so use a batch size of at most " + std::to_string(samples_));
    order_.resize(static_cast<std::size_t>(samples_));
    lastIndices_.reserve(static_cast<std::size_t>(batchSize_));
    loadOrder(0);
}

template <typename Scalar>
void Batcher<Scalar>::loadOrder(std::uint64_t epochIndex) {
    std::iota(order_.begin(), order_.end(), Index{0});
    if (shuffle_) {
        // Fisher-Yates with a stream that depends only on (seed, epoch): any position can be restored.
        Random random(mixBits(seed_ ^ mixBits(epochIndex)));
        for (std::size_t index = order_.size(); index > 1; --index)
            std::swap(order_[index - 1], order_[random.below(index)]);
    }
    loadedEpoch_ = epochIndex;
}

template <typename Scalar>
void Batcher<Scalar>::setPosition(std::uint64_t position) {
    position_ = position;
    loadOrder(position_ / static_cast<std::uint64_t>(samples_));
}

template <typename Scalar>
void Batcher<Scalar>::next(Matrix<Scalar>& x, Matrix<Scalar>& y) {
    const Eigen::MatrixXd& inputs = dataset_->inputs;
    const Eigen::MatrixXd& targets = dataset_->targets;
    const Index features = dataset_->features(), outputs = dataset_->outputs();
    const Index timesteps = dataset_->timesteps, targetTimesteps = dataset_->targetTimesteps;
    if (x.rows() != features || x.cols() != timesteps * batchSize_) x.resize(features, timesteps * batchSize_);
    if (y.rows() != outputs || y.cols() != targetTimesteps * batchSize_) y.resize(outputs, targetTimesteps * batchSize_);
    const std::uint64_t samples = static_cast<std::uint64_t>(samples_);
    lastIndices_.clear();
    for (Index column = 0; column < batchSize_; ++column) {
        const std::uint64_t epochIndex = position_ / samples;
        if (epochIndex != loadedEpoch_) loadOrder(epochIndex);
        const Index sample = order_[static_cast<std::size_t>(position_ % samples)];
        // Step t of the sample's column (rows [t F, (t+1) F)) goes to column t * batch + column.
        for (Index t = 0; t < timesteps; ++t)
            x.col(t * batchSize_ + column) = inputs.block(t * features, sample, features, 1).template cast<Scalar>();
        for (Index t = 0; t < targetTimesteps; ++t)
            y.col(t * batchSize_ + column) = targets.block(t * outputs, sample, outputs, 1).template cast<Scalar>();
        lastIndices_.push_back(sample);
        ++position_;
    }
}

template class Batcher<float>;
template class Batcher<double>;

}  // namespace gradlab::data
