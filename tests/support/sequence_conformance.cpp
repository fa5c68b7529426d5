#include "support/sequence_conformance.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

#include "gradcheck/gradient_check.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/random.hpp"
#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

namespace gradlab::testing {

// The gradient check's own central differences (step 1e-6 max(1, |v|)) and error measure.
using gradcheck::centralDifferences;
using gradcheck::maxRelativeError;

std::shared_ptr<Layer<double>> makeLayer(const std::string& yaml) {
    return builtinPlugins().makeLayer<double>(spec(PluginKind::layer, yaml));
}

std::vector<std::string> parameterNames(Layer<double>& layer) {
    std::vector<NamedParameter<double>> parameters;
    layer.collectParameters("", parameters);
    std::vector<std::string> names;
    for (const auto& parameter : parameters) names.push_back(parameter.name);
    return names;
}

Eigen::ArrayXXd sigmoid(const Matrix<double>& a) { return 1.0 / (1.0 + (-a.array()).exp()); }

namespace {

constexpr Index batchSize = 3;
constexpr double gradientTolerance = 1e-6;
constexpr std::uint64_t seed = 20240917;

/// Entries uniform in [-1, 1).
Matrix<double> uniformMatrix(Index rows, Index cols, Random& random) {
    Matrix<double> result(rows, cols);
    for (Index i = 0; i < result.size(); ++i) result.data()[i] = random.uniform(-1.0, 1.0);
    return result;
}


/// Every parameter of `layer` set to U[-1, 1) draws from `random`, gradients zeroed.
void randomizeParameters(Layer<double>& layer, Random& random) {
    std::vector<NamedParameter<double>> parameters;
    layer.collectParameters("", parameters);
    for (auto& named : parameters) {
        named.parameter->value = uniformMatrix(named.parameter->value.rows(), named.parameter->value.cols(), random);
        named.parameter->grad.setZero();
    }
}

/// The reference run of `cell` over a [F x T B] input. With `fixedStates` (the states of an unperturbed full
/// run, [stateRows x T B]) and truncate = k > 0, the state entering step ck (c > 0) is taken from fixedStates
/// instead of the run itself: the carried-in state is a constant. Returns the states [stateRows x T B].
Matrix<double> referenceRun(const ReferenceCell& cell, const ParameterValues& parameters, const Matrix<double>& x,
                            Index timesteps, Index truncate, const Matrix<double>* fixedStates) {
    const Index batch = x.cols() / timesteps;
    Matrix<double> states(cell.stateRows, x.cols());
    Matrix<double> previous = Matrix<double>::Zero(cell.stateRows, batch), next, input;
    for (Index t = 0; t < timesteps; ++t) {
        if (fixedStates != nullptr && truncate > 0 && t > 0 && t % truncate == 0)
            previous = fixedStates->middleCols((t - 1) * batch, batch);
        input = x.middleCols(t * batch, batch);
        cell.step(parameters, input, previous, next);
        REQUIRE(next.rows() == cell.stateRows);
        REQUIRE(next.cols() == batch);
        states.middleCols(t * batch, batch) = next;
        previous = next;
    }
    return states;
}

/// The layer output a reference run stands for: every h_t, or h_{T-1} only.
Matrix<double> referenceOutput(const ReferenceCell& cell, const Matrix<double>& states, Index batch,
                               bool returnSequences) {
    if (returnSequences) return states.topRows(cell.units);
    return states.topRows(cell.units).rightCols(batch);
}

}  // namespace

void checkAgainstReference(const std::string& yaml, const ReferenceCell& cell, const Shape& input, Index truncate) {
    INFO("layer " << yaml << " on input [" << input.features << " features x " << input.timesteps
                  << " timesteps] against its reference cell, truncate " << truncate);
    auto layer = makeLayer(yaml);
    const Shape output = layer->build(input);
    const Index timesteps = input.timesteps;
    const bool returnSequences = output.timesteps == timesteps && timesteps > 1;
    REQUIRE(output.features == cell.units);
    REQUIRE((output.timesteps == 1 || output.timesteps == timesteps));

    Random random(seed);
    randomizeParameters(*layer, random);
    std::vector<NamedParameter<double>> parameters;
    layer->collectParameters("", parameters);
    ParameterValues values;
    for (const auto& named : parameters) values[named.name] = named.parameter->value;
    Matrix<double> x = 1.5 * uniformMatrix(input.features, batchSize * timesteps, random);
    const Matrix<double> lossWeights = uniformMatrix(output.features, batchSize * output.timesteps, random);

    // Forward agrees with the reference.
    Matrix<double> y, dx;
    layer->forward(x, y, Phase::train);
    const Matrix<double> states = referenceRun(cell, values, x, timesteps, 0, nullptr);
    const Matrix<double> expected = referenceOutput(cell, states, batchSize, returnSequences);
    REQUIRE(y.rows() == expected.rows());
    REQUIRE(y.cols() == expected.cols());
    {
        INFO("y\n" << y << "\nreference\n" << expected);
        REQUIRE(maxRelativeError(y, expected, 1e-12) < 1e-12);
    }

    // Gradients agree with central differences of the (truncated) reference loss.
    layer->backward(x, y, lossWeights, &dx);
    auto truncatedLoss = [&] {
        const Matrix<double> run = referenceRun(cell, values, x, timesteps, truncate, &states);
        return (lossWeights.array() * referenceOutput(cell, run, batchSize, returnSequences).array()).sum();
    };
    {
        const Matrix<double> numeric = centralDifferences(truncatedLoss, x);
        INFO("dL/dx: analytic\n" << dx << "\nnumeric\n" << numeric);
        REQUIRE(maxRelativeError(dx, numeric) < gradientTolerance);
    }
    for (const auto& named : parameters) {
        const Matrix<double> numeric = centralDifferences(truncatedLoss, values[named.name]);
        INFO("dL/d" << named.name << ": analytic\n" << named.parameter->grad << "\nnumeric\n" << numeric);
        REQUIRE(maxRelativeError(named.parameter->grad, numeric) < gradientTolerance);
    }

    // The defining property of truncation: a last-step loss reaches only the last chunk's inputs.
    if (truncate > 0 && !returnSequences && timesteps > truncate) {
        const Index lastChunk = ((timesteps - 1) / truncate) * truncate;
        INFO("dL/dx with the last chunk starting at step " << lastChunk << "\n" << dx);
        CHECK(dx.leftCols(lastChunk * batchSize).cwiseAbs().maxCoeff() == 0.0);
        CHECK(dx.rightCols((timesteps - lastChunk) * batchSize).cwiseAbs().maxCoeff() > 1e-6);
    }
}

void checkStackGradients(const std::vector<std::string>& yamls, const Shape& input) {
    std::string names;
    for (const auto& yaml : yamls) names += (names.empty() ? "" : " -> ") + yaml;
    INFO("stack " << names << " on input [" << input.features << " features x " << input.timesteps << " timesteps]");
    REQUIRE(!yamls.empty());

    Random random(seed + 1);
    std::vector<std::shared_ptr<Layer<double>>> layers;
    Shape shape = input;
    for (const auto& yaml : yamls) {
        layers.push_back(makeLayer(yaml));
        shape = layers.back()->build(shape);
        randomizeParameters(*layers.back(), random);
    }
    Matrix<double> x = 1.5 * uniformMatrix(input.features, batchSize * input.timesteps, random);
    const Matrix<double> lossWeights = uniformMatrix(shape.features, batchSize * shape.timesteps, random);

    // activations[k] is the input of layer k; activations.back() is the stack's output.
    std::vector<Matrix<double>> activations(layers.size() + 1);
    auto forward = [&] {
        activations[0] = x;
        for (std::size_t k = 0; k < layers.size(); ++k)
            layers[k]->forward(activations[k], activations[k + 1], Phase::train);
    };
    auto loss = [&] {
        forward();
        return (lossWeights.array() * activations.back().array()).sum();
    };

    forward();
    REQUIRE(activations.back().rows() == lossWeights.rows());
    REQUIRE(activations.back().cols() == lossWeights.cols());
    Matrix<double> gradient = lossWeights, below;
    for (std::size_t k = layers.size(); k-- > 0;) {
        layers[k]->backward(activations[k], activations[k + 1], gradient, &below);
        gradient.swap(below);
    }
    const Matrix<double> dx = gradient;
    std::vector<std::pair<std::string, Matrix<double>>> analytic;
    std::vector<std::pair<std::string, Matrix<double>*>> values;
    for (std::size_t k = 0; k < layers.size(); ++k) {
        std::vector<NamedParameter<double>> parameters;
        layers[k]->collectParameters("layers." + std::to_string(k) + ".", parameters);
        for (auto& named : parameters) {
            analytic.emplace_back(named.name, named.parameter->grad);
            values.emplace_back(named.name, &named.parameter->value);
        }
    }
    {
        const Matrix<double> numeric = centralDifferences(loss, x);
        INFO("dL/dx: analytic\n" << dx << "\nnumeric\n" << numeric);
        REQUIRE(maxRelativeError(dx, numeric) < gradientTolerance);
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        const Matrix<double> numeric = centralDifferences(loss, *values[i].second);
        INFO("dL/d" << analytic[i].first << ": analytic\n" << analytic[i].second << "\nnumeric\n" << numeric);
        REQUIRE(maxRelativeError(analytic[i].second, numeric) < gradientTolerance);
    }
}

}  // namespace gradlab::testing
