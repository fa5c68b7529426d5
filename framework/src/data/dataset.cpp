#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

/// Throws for the first non-finite entry of a [(timesteps * rows) x samples] matrix; NaN passes when `allowNaN`.
void checkMatrixFinite(const Eigen::MatrixXd& matrix, Index timesteps, bool allowNaN, const std::string& source,
                       const char* matrixName, const char* rowName) {
    if (matrix.allFinite()) return;
    const Index rowsPerStep = timesteps > 1 ? matrix.rows() / timesteps : matrix.rows();
    for (Index sample = 0; sample < matrix.cols(); ++sample) {
        for (Index row = 0; row < matrix.rows(); ++row) {
            const double value = matrix(row, sample);
            if (std::isfinite(value) || (allowNaN && std::isnan(value))) continue;
            const char* what = std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf");
            const std::string position =
                timesteps > 1 && rowsPerStep > 0
                    ? "timestep " + std::to_string(row / rowsPerStep) + ", " + rowName + " " +
                          std::to_string(row % rowsPerStep)
                    : std::string(rowName) + " " + std::to_string(row);
            throw Error(source + ": " + matrixName + " sample " + std::to_string(sample) + ", " + position + " is " +
                        what + " (0-based indices)");
        }
    }
}

/// The samples `indices` of `dataset`, in that order.
Dataset selectSamples(const Dataset& dataset, const std::vector<Index>& indices, const std::string& description) {
    Dataset selected;
    selected.inputs.resize(dataset.inputs.rows(), static_cast<Index>(indices.size()));
    selected.targets.resize(dataset.targets.rows(), static_cast<Index>(indices.size()));
    for (std::size_t column = 0; column < indices.size(); ++column) {
        selected.inputs.col(static_cast<Index>(column)) = dataset.inputs.col(indices[column]);
        selected.targets.col(static_cast<Index>(column)) = dataset.targets.col(indices[column]);
    }
    selected.classes = dataset.classes;
    selected.timesteps = dataset.timesteps;
    selected.targetTimesteps = dataset.targetTimesteps;
    selected.description = description;
    return selected;
}

}  // namespace

void checkLayout(const Dataset& dataset, const std::string& source) {
    const std::string what = source + ": ";
    if (dataset.timesteps < 1)
        throw Error(what + "timesteps must be at least 1, got " + std::to_string(dataset.timesteps));
    if (dataset.targetTimesteps != 1 && dataset.targetTimesteps != dataset.timesteps)
        throw Error(what + "targetTimesteps must be 1 (one target per sequence) or timesteps (" +
                    std::to_string(dataset.timesteps) + ", a target per step), got " +
                    std::to_string(dataset.targetTimesteps));
    if (dataset.inputs.rows() % dataset.timesteps != 0)
        throw Error(what + "inputs have " + std::to_string(dataset.inputs.rows()) + " rows, not a multiple of " +
                    std::to_string(dataset.timesteps) + " timesteps (expected [(timesteps * features) x samples])");
    if (dataset.targets.rows() % dataset.targetTimesteps != 0)
        throw Error(what + "targets have " + std::to_string(dataset.targets.rows()) + " rows, not a multiple of " +
                    std::to_string(dataset.targetTimesteps) +
                    " target timesteps (expected [(targetTimesteps * outputs) x samples])");
    if (dataset.targets.cols() != dataset.inputs.cols())
        throw Error(what + std::to_string(dataset.inputs.cols()) + " input samples but " +
                    std::to_string(dataset.targets.cols()) + " target samples");
}

void checkFinite(const Dataset& dataset, const std::string& source) {
    checkMatrixFinite(dataset.inputs, dataset.timesteps, false, source, "inputs", "feature");
    checkMatrixFinite(dataset.targets, dataset.targetTimesteps, dataset.targetTimesteps > 1, source, "targets",
                      "output");
}

Split splitValidation(const Dataset& dataset, double fraction, std::uint64_t seed) {
    const Index samples = dataset.samples();
    if (dataset.targets.cols() != samples)
        throw Error("cannot split '" + dataset.description + "': " + std::to_string(samples) + " input samples but " +
                    std::to_string(dataset.targets.cols()) + " target samples");
    if (!(fraction >= 0.0 && fraction < 1.0))
        throw Error("validation fraction must be in [0, 1), got " + std::to_string(fraction));
    const Index held = static_cast<Index>(std::llround(fraction * static_cast<double>(samples)));
    if (held >= samples)
        throw Error("validation fraction " + std::to_string(fraction) + " of " + std::to_string(samples) +
                    " samples leaves no training samples");

    std::vector<Index> order(static_cast<std::size_t>(samples));
    std::iota(order.begin(), order.end(), Index{0});
    Random random(seed);
    for (std::size_t index = order.size(); index > 1; --index) std::swap(order[index - 1], order[random.below(index)]);
    std::vector<Index> validation(order.begin(), order.begin() + held);
    std::vector<Index> train(order.begin() + held, order.end());
    std::sort(validation.begin(), validation.end());
    std::sort(train.begin(), train.end());

    const std::string total = " of " + std::to_string(samples) + " samples]";
    Split split;
    split.train =
        selectSamples(dataset, train, dataset.description + " [train: " + std::to_string(train.size()) + total);
    split.validation = selectSamples(
        dataset, validation, dataset.description + " [validation: " + std::to_string(validation.size()) + total);
    return split;
}

}  // namespace gradlab::data
