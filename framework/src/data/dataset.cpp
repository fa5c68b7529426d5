#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

/// Throws for the first non-finite entry of a [rows x samples] matrix.
void checkMatrixFinite(const Eigen::MatrixXd& matrix, const std::string& source, const char* matrixName,
                       const char* rowName) {
    if (matrix.allFinite()) return;
    for (Index sample = 0; sample < matrix.cols(); ++sample) {
        for (Index row = 0; row < matrix.rows(); ++row) {
            const double value = matrix(row, sample);
            if (std::isfinite(value)) continue;
            const char* what = std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf");
            throw Error(source + ": " + matrixName + " sample " + std::to_string(sample) + ", " + rowName + " " +
                        std::to_string(row) + " is " + what + " (0-based indices)");
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
    selected.description = description;
    return selected;
}

}  // namespace

void checkFinite(const Dataset& dataset, const std::string& source) {
    checkMatrixFinite(dataset.inputs, source, "inputs", "feature");
    checkMatrixFinite(dataset.targets, source, "targets", "output");
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
