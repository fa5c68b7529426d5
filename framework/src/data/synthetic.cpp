/// @file synthetic.cpp
/// Synthetic data sets: random regression, teacher network, spirals.

#include <cmath>
#include <sstream>

#include "data/dataset.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"

namespace gradlab::data {

namespace {

std::string formatNumber(double value) {
    std::ostringstream stream;
    stream << value;
    return stream.str();
}

void requirePositive(const char* generator, const char* what, Index value) {
    if (value < 1)
        throw Error(std::string(generator) + ": " + what + " must be at least 1, got " + std::to_string(value));
}

/// A [rows x columns] matrix of N(0, std^2) draws, column by column.
Eigen::MatrixXd drawNormal(Random& random, Index rows, Index columns, double std = 1.0) {
    Eigen::MatrixXd matrix(rows, columns);
    for (Index column = 0; column < columns; ++column)
        for (Index row = 0; row < rows; ++row) matrix(row, column) = std * random.normal();
    return matrix;
}

}  // namespace

Dataset makeRandomRegression(Index samples, Index inputs, Index outputs, std::uint64_t seed, double inputStd) {
    requirePositive("random_regression", "samples", samples);
    requirePositive("random_regression", "inputs", inputs);
    requirePositive("random_regression", "outputs", outputs);
    if (!(inputStd > 0.0) || !std::isfinite(inputStd))
        throw Error("random_regression: input_std must be finite and > 0, got " + formatNumber(inputStd));
    Random random(seed);
    Dataset dataset;
    dataset.inputs = drawNormal(random, inputs, samples, inputStd);
    dataset.targets = drawNormal(random, outputs, samples);
    const std::string xStd = inputStd == 1.0 ? "1" : formatNumber(inputStd) + "^2";
    dataset.description = "random_regression: " + std::to_string(samples) + " samples, x~N(0," + xStd + ")[" +
                          std::to_string(inputs) + "], y~N(0,1)[" + std::to_string(outputs) + "]";
    return dataset;
}

Dataset makeTeacher(Index samples, Index inputs, Index outputs, const std::vector<Index>& hidden, double noiseStd,
                    std::uint64_t seed) {
    requirePositive("teacher", "samples", samples);
    requirePositive("teacher", "inputs", inputs);
    requirePositive("teacher", "outputs", outputs);
    for (Index width : hidden) requirePositive("teacher", "every hidden width", width);
    if (!(noiseStd >= 0.0) || !std::isfinite(noiseStd))
        throw Error("teacher: noise std must be finite and >= 0, got " + formatNumber(noiseStd));

    Random random(seed);
    Dataset dataset;
    dataset.inputs = drawNormal(random, inputs, samples);

    std::vector<Index> widths = {inputs};
    widths.insert(widths.end(), hidden.begin(), hidden.end());
    widths.push_back(outputs);
    std::vector<Eigen::MatrixXd> weights;
    for (std::size_t layer = 0; layer + 1 < widths.size(); ++layer) {
        const Index fanIn = widths[layer];
        weights.push_back(drawNormal(random, widths[layer + 1], fanIn, 1.0 / std::sqrt(static_cast<double>(fanIn))));
    }
    Eigen::MatrixXd activations = dataset.inputs;
    for (std::size_t layer = 0; layer < weights.size(); ++layer) {
        Eigen::MatrixXd next = weights[layer] * activations;
        if (layer + 1 < weights.size()) next = next.array().tanh().matrix();
        activations.swap(next);
    }
    dataset.targets = activations;
    if (noiseStd > 0.0) dataset.targets += drawNormal(random, outputs, samples, noiseStd);

    std::string architecture;
    for (Index width : widths) architecture += (architecture.empty() ? "" : "-") + std::to_string(width);
    dataset.description = "teacher: " + std::to_string(samples) + " samples, x~N(0,1)[" + std::to_string(inputs) +
                          "], tanh teacher " + architecture + ", noise std " + formatNumber(noiseStd);
    return dataset;
}

Dataset makeSpirals(Index samples, Index classes, double noise, std::uint64_t seed) {
    if (classes < 2) throw Error("spirals: classes must be at least 2, got " + std::to_string(classes));
    if (samples < classes)
        throw Error("spirals: " + std::to_string(samples) + " samples cannot cover " + std::to_string(classes) +
                    " classes (need at least one sample per class)");
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw Error("spirals: noise must be finite and >= 0, got " + formatNumber(noise));

    Random random(seed);
    Dataset dataset;
    dataset.inputs.resize(2, samples);
    dataset.targets.resize(1, samples);
    dataset.classes = classes;
    Index column = 0;
    for (Index label = 0; label < classes; ++label) {
        const Index count = samples / classes + (label < samples % classes ? 1 : 0);
        for (Index point = 0; point < count; ++point) {
            // np.linspace(0, 1, count)[point] and np.linspace(4c, 4(c+1), count)[point]
            const double progress = count > 1 ? static_cast<double>(point) / static_cast<double>(count - 1) : 0.0;
            const double radius = progress;
            const double angle = 4.0 * static_cast<double>(label) + 4.0 * progress + noise * random.normal();
            dataset.inputs(0, column) = radius * std::sin(angle);
            dataset.inputs(1, column) = radius * std::cos(angle);
            dataset.targets(0, column) = static_cast<double>(label);
            ++column;
        }
    }
    dataset.description = "spirals: " + std::to_string(samples) + " samples, " + std::to_string(classes) +
                          " classes, noise " + formatNumber(noise);
    return dataset;
}

}  // namespace gradlab::data
