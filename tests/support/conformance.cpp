#include "support/conformance.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gradcheck/gradient_check.hpp"
#include "gradlab/activation.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/random.hpp"
#include "support/plugin_fixture.hpp"

namespace gradlab::testing {

// The gradient check's own measure (infinity for shapes that differ, so a REQUIRE(... < tolerance) fails).
using gradcheck::maxRelativeError;

namespace {

constexpr Index batchSize = 3;
constexpr double gradientTolerance = 1e-6;
constexpr double precisionTolerance = 1e-4;
constexpr std::uint64_t seed = 20240611;

/// The plugin under test seen through one interface, whether it is a layer or an activation.
template <typename Scalar>
struct Subject {
    using MatrixType = Matrix<Scalar>;
    std::function<void(const MatrixType& x, MatrixType& y)> forward;
    std::function<void(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType& dx)> backward;
    /// backward with dx null: only the parameter gradients are asked for.
    std::function<void(const MatrixType& x, const MatrixType& y, const MatrixType& dy)> parameterBackward;
    std::vector<NamedParameter<Scalar>> parameters;
    std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;  ///< collectBuffers, children included
    /// A forward in Phase::train whatever the phase under test, to give buffers values before an eval check.
    std::function<void(const MatrixType& x, MatrixType& y)> trainForward;
    Phase phase = Phase::train;
    Shape input;
    Shape output;
    std::shared_ptr<Module<Scalar>> module;  ///< keeps the plugin object (and its library) alive
};

template <typename Scalar>
Subject<Scalar> makeLayerSubject(const std::string& yaml, const Shape& input, Phase phase) {
    auto layer = builtinPlugins().makeLayer<Scalar>(spec(PluginKind::layer, yaml));
    Subject<Scalar> subject;
    subject.input = input;
    subject.phase = phase;
    subject.output = layer->build(input);
    layer->collectParameters("", subject.parameters);
    layer->collectBuffers("", subject.buffers);
    subject.forward = [layer, phase](const Matrix<Scalar>& x, Matrix<Scalar>& y) { layer->forward(x, y, phase); };
    subject.trainForward = [layer](const Matrix<Scalar>& x, Matrix<Scalar>& y) { layer->forward(x, y, Phase::train); };
    subject.backward = [layer](const Matrix<Scalar>& x, const Matrix<Scalar>& y, const Matrix<Scalar>& dy,
                               Matrix<Scalar>& dx) { layer->backward(x, y, dy, &dx); };
    subject.parameterBackward = [layer](const Matrix<Scalar>& x, const Matrix<Scalar>& y, const Matrix<Scalar>& dy) {
        layer->backward(x, y, dy, nullptr);
    };
    subject.module = layer;
    return subject;
}

template <typename Scalar>
Subject<Scalar> makeActivationSubject(const std::string& yaml, Index units) {
    auto activation = builtinPlugins().makeActivation<Scalar>(spec(PluginKind::activation, yaml));
    activation->build(units);
    Subject<Scalar> subject;
    subject.input = Shape{units, 1};
    subject.output = subject.input;
    activation->collectParameters("", subject.parameters);
    subject.forward = [activation](const Matrix<Scalar>& x, Matrix<Scalar>& y) { activation->forward(x, y); };
    subject.backward = [activation](const Matrix<Scalar>& x, const Matrix<Scalar>& y, const Matrix<Scalar>& dy,
                                    Matrix<Scalar>& dx) { activation->backward(x, y, dy, &dx); };
    subject.parameterBackward = [activation](const Matrix<Scalar>& x, const Matrix<Scalar>& y,
                                             const Matrix<Scalar>& dy) { activation->backward(x, y, dy, nullptr); };
    subject.module = activation;
    return subject;
}

/// Entries uniform in [-1, 1) (the framework's gradient check draws them the same way).
Matrix<double> uniformMatrix(Index rows, Index cols, Random& random) {
    return gradcheck::uniformEntries(rows, cols, random);
}

/// Entries with |x| uniform in [0.05, 2] and a random sign: away from the kinks of relu-like functions.
Matrix<double> inputMatrix(Index rows, Index cols, Random& random) {
    return gradcheck::entriesAwayFromZero(rows, cols, random);
}

/// The random problem every check of one plugin shares: parameters, input x and loss weights R.
struct Problem {
    std::vector<Matrix<double>> parameters;
    Matrix<double> x;
    Matrix<double> lossWeights;
};

Problem makeProblem(const Subject<double>& subject) {
    Random random(seed);
    Problem problem;
    for (const auto& named : subject.parameters) {
        const auto& value = named.parameter->value;
        problem.parameters.push_back(uniformMatrix(value.rows(), value.cols(), random));
    }
    problem.x = inputMatrix(subject.input.features, batchSize * subject.input.timesteps, random);
    problem.lossWeights = uniformMatrix(subject.output.features, batchSize * subject.output.timesteps, random);
    return problem;
}

template <typename Scalar>
void setParameters(Subject<Scalar>& subject, const Problem& problem) {
    REQUIRE(subject.parameters.size() == problem.parameters.size());
    for (std::size_t i = 0; i < subject.parameters.size(); ++i) {
        subject.parameters[i].parameter->value = problem.parameters[i].cast<Scalar>();
        subject.parameters[i].parameter->grad.setZero();
    }
}

/// Gives the subject's buffers non-trivial values before an eval-phase check: three forward(train) passes on
/// random batches with a per-feature shift in [-1, 1) and a scale of 1.5 (running means away from 0, running
/// variances away from 1). A layer without buffers is left as it is.
void warmUpBuffers(Subject<double>& subject) {
    if (subject.buffers.empty()) return;
    Random random(seed + 2);
    const Matrix<double> shift = uniformMatrix(subject.input.features, 1, random);
    Matrix<double> batch, y;
    for (int pass = 0; pass < 3; ++pass) {
        batch = 1.5 * inputMatrix(subject.input.features, batchSize * subject.input.timesteps, random);
        batch.colwise() += shift.col(0);
        subject.trainForward(batch, y);
    }
}

/// Copies the float64 subject's buffer values into the float32 subject (same names, same order).
void copyBuffers(const Subject<double>& from, Subject<float>& to) {
    REQUIRE(to.buffers.size() == from.buffers.size());
    for (std::size_t i = 0; i < from.buffers.size(); ++i) {
        REQUIRE(to.buffers[i].first == from.buffers[i].first);
        to.buffers[i].second->value = from.buffers[i].second->value.cast<float>();
    }
}

/// The current values of every buffer of the subject.
std::vector<Matrix<double>> bufferValues(const Subject<double>& subject) {
    std::vector<Matrix<double>> values;
    for (const auto& entry : subject.buffers) values.push_back(entry.second->value);
    return values;
}

template <typename Scalar>
void zeroGradients(Subject<Scalar>& subject) {
    for (auto& named : subject.parameters) named.parameter->grad.setZero();
}

/// |a - b| <= tolerance max(1, |b|) entry-wise, for comparing float32 results to float64 ones.
void requireCloseToReference(const Matrix<double>& actual, const Matrix<double>& reference, const std::string& what) {
    INFO(what);
    REQUIRE(actual.rows() == reference.rows());
    REQUIRE(actual.cols() == reference.cols());
    const double scale = std::max(1.0, reference.cwiseAbs().maxCoeff());
    const double difference = (actual - reference).cwiseAbs().maxCoeff();
    CAPTURE(difference, scale);
    REQUIRE(difference <= precisionTolerance * scale);
}

/// The checks shared by layers and activations; `makeFloat32` builds the same plugin in float32.
void checkSubject(Subject<double>& subject, const std::function<Subject<float>()>& makeFloat32) {
    const Problem problem = makeProblem(subject);
    setParameters(subject, problem);
    if (subject.phase == Phase::eval) warmUpBuffers(subject);
    const Matrix<double>& x = problem.x;
    const Matrix<double>& lossWeights = problem.lossWeights;

    SECTION("shapes: output as built, dx like x, unique parameter names") {
        CAPTURE(subject.output.features, subject.output.timesteps);
        REQUIRE(subject.output.features >= 1);
        REQUIRE(subject.output.timesteps >= 1);
        Matrix<double> y, dx;
        subject.forward(x, y);
        REQUIRE(y.rows() == subject.output.features);
        REQUIRE(y.cols() == batchSize * subject.output.timesteps);
        subject.backward(x, y, lossWeights, dx);
        REQUIRE(dx.rows() == x.rows());
        REQUIRE(dx.cols() == x.cols());
        std::set<std::string> names;
        for (const auto& named : subject.parameters) {
            CAPTURE(named.name);
            REQUIRE(!named.name.empty());
            REQUIRE(names.insert(named.name).second);
            REQUIRE(named.parameter->grad.rows() == named.parameter->value.rows());
            REQUIRE(named.parameter->grad.cols() == named.parameter->value.cols());
        }
    }

    SECTION("gradients: dx and every parameter gradient match float64 central differences") {
        // The same code as `gradlab gradcheck`: framework/src/gradcheck/gradient_check.hpp.
        const gradcheck::Subject function{subject.forward, subject.backward, subject.parameters};
        gradcheck::Settings settings;
        settings.tolerance = gradientTolerance;
        const gradcheck::Report report = gradcheck::check(function, x, lossWeights, settings);
        REQUIRE(report.tensors.size() == subject.parameters.size() + 1);
        for (const auto& tensor : report.tensors) {
            INFO("dL/d" << tensor.name << ": analytic\n" << tensor.analytic << "\nnumeric\n" << tensor.numeric);
            INFO(tensor.problem);
            REQUIRE(tensor.problem.empty());
            REQUIRE(tensor.maxRelativeError < gradientTolerance);
        }
    }

    SECTION("contract: backward overwrites dx and accumulates (+=) parameter gradients") {
        Matrix<double> y, clean;
        subject.forward(x, y);
        subject.backward(x, y, lossWeights, clean);
        std::vector<Matrix<double>> once;
        for (const auto& named : subject.parameters) once.push_back(named.parameter->grad);

        // A second forward/backward pair (the contract allows one backward per forward) without zeroing.
        Matrix<double> garbage = Matrix<double>::Constant(x.rows(), x.cols(), std::numeric_limits<double>::quiet_NaN());
        subject.forward(x, y);
        subject.backward(x, y, lossWeights, garbage);
        REQUIRE(garbage.rows() == x.rows());
        REQUIRE(garbage.cols() == x.cols());
        REQUIRE(garbage.allFinite());
        REQUIRE(maxRelativeError(garbage, clean, 1e-12) < 1e-12);
        for (std::size_t i = 0; i < subject.parameters.size(); ++i) {
            INFO("parameter " << subject.parameters[i].name);
            REQUIRE(maxRelativeError(subject.parameters[i].parameter->grad, 2.0 * once[i], 1e-12) < 1e-12);
        }
    }

    SECTION("contract: backward with dx null accumulates the same parameter gradients") {
        Matrix<double> y, dx;
        subject.forward(x, y);
        subject.backward(x, y, lossWeights, dx);
        std::vector<Matrix<double>> withInputGradient;
        for (const auto& named : subject.parameters) {
            withInputGradient.push_back(named.parameter->grad);
            named.parameter->grad.setZero();
        }
        subject.forward(x, y);
        subject.parameterBackward(x, y, lossWeights);
        for (std::size_t i = 0; i < subject.parameters.size(); ++i) {
            INFO("parameter " << subject.parameters[i].name);
            REQUIRE(maxRelativeError(subject.parameters[i].parameter->grad, withInputGradient[i], 1e-12) < 1e-12);
        }
    }

    SECTION("precision: float32 agrees with float64") {
        Subject<float> single = makeFloat32();
        REQUIRE(single.output == subject.output);
        REQUIRE(single.parameters.size() == subject.parameters.size());
        for (std::size_t i = 0; i < single.parameters.size(); ++i)
            REQUIRE(single.parameters[i].name == subject.parameters[i].name);
        setParameters(single, problem);
        copyBuffers(subject, single);

        Matrix<double> y, dx;
        subject.forward(x, y);
        subject.backward(x, y, lossWeights, dx);
        Matrix<float> y32, dx32;
        const Matrix<float> x32 = x.cast<float>();
        single.forward(x32, y32);
        single.backward(x32, y32, lossWeights.cast<float>(), dx32);
        requireCloseToReference(y32.cast<double>(), y, "y");
        requireCloseToReference(dx32.cast<double>(), dx, "dx");
        for (std::size_t i = 0; i < single.parameters.size(); ++i)
            requireCloseToReference(single.parameters[i].parameter->grad.cast<double>(),
                                    subject.parameters[i].parameter->grad, "gradient of " + single.parameters[i].name);
    }

    if (subject.phase == Phase::eval) {
        SECTION("state: eval forward and backward leave every buffer untouched") {
            const std::vector<Matrix<double>> before = bufferValues(subject);
            Matrix<double> y, dx;
            subject.forward(x, y);
            subject.backward(x, y, lossWeights, dx);
            const std::vector<Matrix<double>> after = bufferValues(subject);
            for (std::size_t i = 0; i < before.size(); ++i) {
                INFO("buffer " << subject.buffers[i].first);
                REQUIRE(after[i] == before[i]);
            }
        }
    }
}

}  // namespace

void checkLayerConformance(const std::string& yaml, const Shape& input, Phase phase) {
    INFO("layer " << yaml << " on input [" << input.features << " features x " << input.timesteps
                  << " timesteps] in " << (phase == Phase::train ? "train" : "eval") << " phase");
    Subject<double> subject = makeLayerSubject<double>(yaml, input, phase);
    checkSubject(subject, [&] { return makeLayerSubject<float>(yaml, input, phase); });
}

void checkActivationConformance(const std::string& yaml, Index units) {
    INFO("activation " << yaml << " for " << units << " units");
    Subject<double> subject = makeActivationSubject<double>(yaml, units);
    checkSubject(subject, [&] { return makeActivationSubject<float>(yaml, units); });

    SECTION("activation: derivative() is backward(dy = 1); value() and slope() agree with the first unit") {
        auto activation = std::dynamic_pointer_cast<Activation<double>>(subject.module);
        REQUIRE(activation != nullptr);
        Random random(seed + 1);
        const Matrix<double> x = inputMatrix(units, batchSize, random);
        Matrix<double> y, d, dx;
        activation->forward(x, y);
        activation->derivative(x, y, d);
        activation->backward(x, y, Matrix<double>::Ones(units, batchSize), &dx);
        REQUIRE(d.rows() == units);
        REQUIRE(d.cols() == batchSize);
        REQUIRE(maxRelativeError(d, dx, 1e-12) < 1e-12);
        for (Index j = 0; j < batchSize; ++j) {
            CAPTURE(x(0, j));
            REQUIRE(activation->value(x(0, j)) == Approx(y(0, j)).epsilon(1e-12).margin(1e-14));
            REQUIRE(activation->slope(x(0, j)) == Approx(d(0, j)).epsilon(1e-12).margin(1e-14));
        }
    }

    SECTION("activation: unitMaxSlope() is each unit's largest |f'| over the batch, as derivative() gives it") {
        auto activation = std::dynamic_pointer_cast<Activation<double>>(subject.module);
        REQUIRE(activation != nullptr);
        Random random(seed + 2);
        for (Index columns : {Index(1), batchSize}) {
            const Matrix<double> x = inputMatrix(units, columns, random);
            Matrix<double> y, d, scratch;
            activation->forward(x, y);
            activation->derivative(x, y, d);
            std::vector<double> largest;
            activation->unitMaxSlope(x, y, scratch, largest);
            REQUIRE(largest.size() == static_cast<std::size_t>(units));
            for (Index unit = 0; unit < units; ++unit) {
                CAPTURE(columns, unit);
                CHECK(largest[static_cast<std::size_t>(unit)] == d.row(unit).cwiseAbs().maxCoeff());
            }
        }
    }
}

}  // namespace gradlab::testing
