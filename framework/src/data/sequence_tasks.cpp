/// @file sequence_tasks.cpp
/// Synthetic sequence tasks for recurrent models: the adding problem (two variants), copy memory, temporal
/// order and noisy-sine next-step prediction. Every generator draws from one gradlab::Random(seed), sample
/// after sample, so a seed fixes the data set on every platform. Layout: see Dataset (timestep-major columns).

#include <algorithm>
#include <cmath>
#include <sstream>

#include "data/dataset.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

constexpr double pi = 3.14159265358979323846;

std::string formatNumber(double value) {
    std::ostringstream stream;
    stream << value;
    return stream.str();
}

void requireAtLeast(const char* generator, const char* what, Index value, Index minimum) {
    if (value < minimum)
        throw Error(std::string(generator) + ": " + what + " must be at least " + std::to_string(minimum) + ", got " +
                    std::to_string(value));
}

/// A uniform integer in [low, high).
Index uniformIndex(Random& random, Index low, Index high) {
    return low + static_cast<Index>(random.below(static_cast<std::uint64_t>(high - low)));
}

/// The two adding problems: values ~ U[0, 1) drawn step by step, then the two marker positions from
/// `positions`, then the target from the two marked values.
template <typename Positions, typename Target>
Dataset makeAdding(Index samples, Index timesteps, std::uint64_t seed, Positions positions, Target target) {
    Random random(seed);
    Dataset dataset;
    dataset.inputs = Eigen::MatrixXd::Zero(2 * timesteps, samples);
    dataset.targets.resize(1, samples);
    dataset.timesteps = timesteps;
    dataset.targetTimesteps = 1;
    for (Index sample = 0; sample < samples; ++sample) {
        for (Index t = 0; t < timesteps; ++t) dataset.inputs(2 * t, sample) = random.uniform();
        Index first = 0, second = 0;
        positions(random, first, second);
        dataset.inputs(2 * first + 1, sample) = 1.0;
        dataset.inputs(2 * second + 1, sample) = 1.0;
        dataset.targets(0, sample) = target(dataset.inputs(2 * first, sample), dataset.inputs(2 * second, sample));
    }
    return dataset;
}

}  // namespace

// Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units", after
// Hochreiter & Schmidhuber 1997's experiment 4. Markers anywhere (two distinct positions uniform over all T).
// Baseline: the two marked values are independent U[0, 1) whatever the positions, so the target S = u1 + u2 has
// mean 1 and variance 2/12: the best constant prediction is 1, with MSE exactly 1/6 ~ 0.16667. (Le et al. quote
// 0.1767 for their baseline; it is not the constant predictor's MSE for this target distribution.)
Dataset makeAddingSum(Index samples, Index timesteps, std::uint64_t seed) {
    requireAtLeast("adding_sum", "samples", samples, 1);
    requireAtLeast("adding_sum", "timesteps", timesteps, 2);
    Dataset dataset = makeAdding(
        samples, timesteps, seed,
        [timesteps](Random& random, Index& first, Index& second) {
            first = uniformIndex(random, 0, timesteps);
            second = uniformIndex(random, 0, timesteps - 1);
            if (second >= first) ++second;  // uniform over the other T - 1 positions
        },
        [](double a, double b) { return a + b; });
    dataset.description = "adding_sum: " + std::to_string(samples) + " sequences of " + std::to_string(timesteps) +
                          " steps x 2 features (value ~ U[0,1), marker), target = sum of the 2 marked values; "
                          "baseline MSE 1/6 (predict 1)";
    return dataset;
}

// The adding problem as set up for Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent
// neural networks" (after Hochreiter & Schmidhuber 1997): the first marker early, the second before the middle,
// the target the mean of the two. Baseline: (u1 + u2) / 2 has mean 1/2 and variance (2/12) / 4 = 1/24, so the
// best constant, 1/2, has MSE 1/24 ~ 0.041667.
Dataset makeAddingMean(Index samples, Index timesteps, std::uint64_t seed) {
    requireAtLeast("adding_mean", "samples", samples, 1);
    requireAtLeast("adding_mean", "timesteps", timesteps, 2);
    const Index firstEnd = std::max<Index>(1, timesteps / 10);
    const Index secondEnd = std::max<Index>(firstEnd + 1, timesteps / 2);
    Dataset dataset = makeAdding(
        samples, timesteps, seed,
        [firstEnd, secondEnd](Random& random, Index& first, Index& second) {
            first = uniformIndex(random, 0, firstEnd);
            second = uniformIndex(random, firstEnd, secondEnd);
        },
        [](double a, double b) { return 0.5 * (a + b); });
    dataset.description = "adding_mean: " + std::to_string(samples) + " sequences of " + std::to_string(timesteps) +
                          " steps x 2 features, markers in steps [0, " + std::to_string(firstEnd) + ") and [" +
                          std::to_string(firstEnd) + ", " + std::to_string(secondEnd) +
                          "), target = mean of the 2 marked values; baseline MSE 1/24 (predict 0.5)";
    return dataset;
}

// Arjovsky, Shah & Bengio 2016, "Unitary Evolution Recurrent Neural Networks", section 4.1, with the paper's
// targets at every step (blanks, then the symbols). Baseline: a predictor without memory knows the step but
// not the symbols: it predicts blank for the first T + 10 steps (no loss) and a uniform distribution over the 8
// symbols for the last 10 (ln 8 each), so its cross-entropy per step is 10 ln 8 / (T + 20).
Dataset makeCopyMemory(Index samples, Index timesteps, std::uint64_t seed) {
    requireAtLeast("copy_memory", "samples", samples, 1);
    requireAtLeast("copy_memory", "delay T (timesteps)", timesteps, 1);
    constexpr Index symbolCount = 10, categoryCount = 10, blankSymbol = 0, delimiter = 9;
    const Index length = timesteps + 2 * symbolCount;
    Random random(seed);
    Dataset dataset;
    dataset.inputs = Eigen::MatrixXd::Zero(length * categoryCount, samples);
    dataset.targets = Eigen::MatrixXd::Constant(length, samples, static_cast<double>(blankSymbol));
    dataset.classes = categoryCount;
    dataset.timesteps = length;
    dataset.targetTimesteps = length;
    for (Index sample = 0; sample < samples; ++sample) {
        for (Index t = 0; t < length; ++t) {
            Index category = blankSymbol;
            if (t < symbolCount) {
                category = 1 + uniformIndex(random, 0, 8);
                dataset.targets(length - symbolCount + t, sample) = static_cast<double>(category);
            } else if (t == symbolCount + timesteps - 1) {
                category = delimiter;
            }
            dataset.inputs(t * categoryCount + category, sample) = 1.0;
        }
    }
    dataset.description = "copy_memory: " + std::to_string(samples) + " sequences of " + std::to_string(length) +
                          " steps (delay " + std::to_string(timesteps) +
                          ") one-hot over 10 categories, targets at every step; memoryless baseline cross-entropy "
                          "10 ln 8 / " + std::to_string(length) + " = " +
                          formatNumber(10.0 * std::log(8.0) / static_cast<double>(length));
    return dataset;
}

// Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", experiment 6a (temporal order), as used by Pascanu,
// Mikolov & Bengio 2013, with relative positions and without the begin/end markers B and E. Baseline: the four
// classes are equally likely and independent of the distractors, so chance accuracy is 25% and the best
// constant prediction has cross-entropy ln 4 ~ 1.386.
Dataset makeTemporalOrder(Index samples, Index timesteps, std::uint64_t seed) {
    requireAtLeast("temporal_order", "samples", samples, 1);
    requireAtLeast("temporal_order", "timesteps", timesteps, 2);
    constexpr Index symbolCount = 6, xSymbol = 4;
    const Index firstLow = timesteps / 10, firstHigh = timesteps / 5;
    const Index secondLow = timesteps / 2, secondHigh = 3 * timesteps / 5;
    Random random(seed);
    Dataset dataset;
    dataset.inputs = Eigen::MatrixXd::Zero(timesteps * symbolCount, samples);
    dataset.targets.resize(1, samples);
    dataset.classes = 4;
    dataset.timesteps = timesteps;
    dataset.targetTimesteps = 1;
    for (Index sample = 0; sample < samples; ++sample) {
        const Index first = uniformIndex(random, firstLow, firstHigh + 1);
        const Index second = uniformIndex(random, secondLow, secondHigh + 1);
        const Index firstSymbol = uniformIndex(random, 0, 2), secondSymbol = uniformIndex(random, 0, 2);  // 0 X, 1 Y
        for (Index t = 0; t < timesteps; ++t) {
            Index symbol = 0;
            if (t == first)
                symbol = xSymbol + firstSymbol;
            else if (t == second)
                symbol = xSymbol + secondSymbol;
            else
                symbol = uniformIndex(random, 0, 4);
            dataset.inputs(t * symbolCount + symbol, sample) = 1.0;
        }
        dataset.targets(0, sample) = static_cast<double>(2 * firstSymbol + secondSymbol);
    }
    dataset.description = "temporal_order: " + std::to_string(samples) + " sequences of " + std::to_string(timesteps) +
                          " steps one-hot over a, b, c, d, X, Y; X/Y at steps [" + std::to_string(firstLow) + ", " +
                          std::to_string(firstHigh) + "] and [" + std::to_string(secondLow) + ", " +
                          std::to_string(secondHigh) + "], 4 classes XX XY YX YY; chance accuracy 25%";
    return dataset;
}

// Next-step prediction of a noisy sine. Baselines, per step, averaging over the uniform phase: E[sin^2] = 1/2,
// so predicting 0 has MSE 1/2 + noise^2; sin(w (u+1) + p) - sin(w u + p) = 2 cos(w u + w/2 + p) sin(w/2) has
// mean square 2 sin^2(w/2) = 1 - cos w, and averaging over w ~ U[0.1, 0.5) repeating the input has MSE
// 1 - (sin 0.5 - sin 0.1) / 0.4 + 2 noise^2 ~ 0.051018 + 2 noise^2. The next value's own noise, noise^2, is the
// floor no predictor beats.
Dataset makeNoisySine(Index samples, Index timesteps, double noise, std::uint64_t seed) {
    requireAtLeast("noisy_sine", "samples", samples, 1);
    requireAtLeast("noisy_sine", "timesteps", timesteps, 1);
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw Error("noisy_sine: noise must be finite and >= 0, got " + formatNumber(noise));
    Random random(seed);
    Dataset dataset;
    dataset.inputs.resize(timesteps, samples);
    dataset.targets.resize(timesteps, samples);
    dataset.timesteps = timesteps;
    dataset.targetTimesteps = timesteps;
    for (Index sample = 0; sample < samples; ++sample) {
        const double frequency = random.uniform(0.1, 0.5);
        const double phase = random.uniform(0.0, 2.0 * pi);
        for (Index u = 0; u <= timesteps; ++u) {
            const double value = std::sin(frequency * static_cast<double>(u) + phase) + noise * random.normal();
            if (u < timesteps) dataset.inputs(u, sample) = value;
            if (u > 0) dataset.targets(u - 1, sample) = value;
        }
    }
    dataset.description = "noisy_sine: " + std::to_string(samples) + " sequences of " + std::to_string(timesteps) +
                          " steps, sin(w t + p) + N(0, " + formatNumber(noise) +
                          "^2), w ~ U[0.1, 0.5), next value at every step; baseline MSE " +
                          formatNumber(1.0 - (std::sin(0.5) - std::sin(0.1)) / 0.4 + 2.0 * noise * noise) +
                          " (repeat the input)";
    return dataset;
}

}  // namespace gradlab::data
