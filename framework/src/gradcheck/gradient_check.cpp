#include "gradcheck/gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "gradlab/error.hpp"

namespace gradlab::gradcheck {
namespace {

/// "[rows x cols]".
std::string shapeText(Index rows, Index cols) {
    return "[" + std::to_string(rows) + " x " + std::to_string(cols) + "]";
}

/// Fills in the verdict of one tensor from its analytic and numeric gradients.
TensorResult judge(std::string name, Matrix<double> analytic, Matrix<double> numeric, const std::string& what,
                   const Settings& settings) {
    TensorResult result;
    result.name = std::move(name);
    if (analytic.rows() != numeric.rows() || analytic.cols() != numeric.cols()) {
        result.problem = what + " is " + shapeText(analytic.rows(), analytic.cols()) + ", expected " +
                         shapeText(numeric.rows(), numeric.cols());
        result.maxRelativeError = std::numeric_limits<double>::infinity();
    } else {
        result.maxRelativeError = maxRelativeError(analytic, numeric, settings.errorFloor, &result.worstEntry);
        if (!analytic.allFinite()) result.problem = what + " is not finite";
        else if (!numeric.allFinite()) result.problem = "the loss is not finite near the checked point";
    }
    result.passed = result.problem.empty() && result.maxRelativeError <= settings.tolerance;
    result.analytic = std::move(analytic);
    result.numeric = std::move(numeric);
    return result;
}

/// Refuses an empty problem: no features, timesteps or samples.
void requireProblemShape(const Shape& input, Index batch) {
    if (input.features < 1 || input.timesteps < 1 || batch < 1) {
        std::ostringstream message;
        message << "gradient check needs at least one feature, timestep and sample, got input [" << input.features
                << " features x " << input.timesteps << " timesteps], batch " << batch;
        throw Error(message.str());
    }
}

/// Sets every parameter to uniform [-1, 1) draws, draws x and, from the shape of y, the loss weights R; then
/// checks. The draws come in the order parameters, x, R, as the conformance tests draw them.
Report checkRandomProblem(Subject& subject, const Shape& input, Index batch, std::uint64_t seed,
                          const Settings& settings) {
    requireProblemShape(input, batch);
    Random random(seed);
    for (auto& named : subject.parameters) {
        Parameter<double>& parameter = *named.parameter;
        parameter.value = uniformEntries(parameter.value.rows(), parameter.value.cols(), random);
        parameter.grad.setZero();
    }
    const Matrix<double> x = entriesAwayFromZero(input.features, batch * input.timesteps, random);
    Matrix<double> y;
    subject.forward(x, y);
    const Matrix<double> lossWeights = uniformEntries(y.rows(), y.cols(), random);
    Report report = check(subject, x, lossWeights, settings);
    report.input = input;
    report.batch = batch;
    return report;
}

}  // namespace

bool Report::passed() const {
    return std::all_of(tensors.begin(), tensors.end(), [](const TensorResult& tensor) { return tensor.passed; });
}

Report check(const Subject& subject, const Matrix<double>& x, const Matrix<double>& lossWeights,
             const Settings& settings) {
    Report report;
    report.settings = settings;
    report.input = Shape{x.rows(), 1};
    report.batch = x.cols();
    report.outputRows = lossWeights.rows();
    report.outputColumns = lossWeights.cols();

    Matrix<double> input = x;
    auto loss = [&] {
        Matrix<double> y;
        subject.forward(input, y);
        if (y.rows() != lossWeights.rows() || y.cols() != lossWeights.cols())
            throw Error("forward returned y " + shapeText(y.rows(), y.cols()) + ", expected " +
                        shapeText(lossWeights.rows(), lossWeights.cols()) + " (the shape of the loss weights)");
        return (lossWeights.array() * y.array()).sum();
    };

    // Analytic: one forward and one backward from zeroed parameter gradients.
    for (const auto& named : subject.parameters) named.parameter->grad.setZero();
    Matrix<double> y, dx;
    subject.forward(input, y);
    if (y.rows() != lossWeights.rows() || y.cols() != lossWeights.cols())
        throw Error("forward returned y " + shapeText(y.rows(), y.cols()) + ", expected " +
                    shapeText(lossWeights.rows(), lossWeights.cols()) + " (the shape of the loss weights)");
    subject.backward(input, y, lossWeights, dx);
    std::vector<Matrix<double>> parameterGradients;
    for (const auto& named : subject.parameters) parameterGradients.push_back(named.parameter->grad);

    // Numeric: central differences of the same loss, entry by entry.
    report.tensors.push_back(
        judge("x", std::move(dx), centralDifferences(loss, input, settings.relativeStep), "dx", settings));
    for (std::size_t i = 0; i < subject.parameters.size(); ++i) {
        const NamedParameter<double>& named = subject.parameters[i];
        Matrix<double> numeric = centralDifferences(loss, named.parameter->value, settings.relativeStep);
        report.tensors.push_back(judge(named.name, std::move(parameterGradients[i]), std::move(numeric),
                                       "the gradient of " + named.name, settings));
    }
    return report;
}

Report checkLayer(Layer<double>& layer, const Shape& input, Index batch, std::uint64_t seed, const Settings& settings,
                  Phase phase) {
    Subject subject;
    subject.forward = [&layer, phase](const Matrix<double>& x, Matrix<double>& y) { layer.forward(x, y, phase); };
    subject.backward = [&layer](const Matrix<double>& x, const Matrix<double>& y, const Matrix<double>& dy,
                                Matrix<double>& dx) { layer.backward(x, y, dy, &dx); };
    layer.collectParameters("", subject.parameters);
    return checkRandomProblem(subject, input, batch, seed, settings);
}

Report checkActivation(Activation<double>& activation, const Shape& input, Index batch, std::uint64_t seed,
                       const Settings& settings) {
    Subject subject;
    subject.forward = [&activation](const Matrix<double>& x, Matrix<double>& y) { activation.forward(x, y); };
    subject.backward = [&activation](const Matrix<double>& x, const Matrix<double>& y, const Matrix<double>& dy,
                                     Matrix<double>& dx) { activation.backward(x, y, dy, &dx); };
    activation.collectParameters("", subject.parameters);
    return checkRandomProblem(subject, input, batch, seed, settings);
}

Report checkRegularizer(const Regularizer<double>& regularizer, Index rows, Index cols, std::uint64_t seed,
                        const Settings& settings) {
    requireProblemShape(Shape{rows, 1}, cols);
    Random random(seed);
    Matrix<double> value = entriesAwayFromZero(rows, cols, random);
    Matrix<double> analytic = Matrix<double>::Zero(rows, cols);
    regularizer.addGradient(value, analytic);
    Matrix<double> numeric = centralDifferences([&] { return regularizer.penalty(value); }, value, settings.relativeStep);
    Report report;
    report.settings = settings;
    report.input = Shape{rows, 1};
    report.batch = cols;
    report.outputRows = 1;
    report.outputColumns = 1;
    report.tensors.push_back(judge("w", std::move(analytic), std::move(numeric), "the gradient of w", settings));
    return report;
}

Matrix<double> centralDifferences(const std::function<double()>& loss, Matrix<double>& value, double relativeStep) {
    Matrix<double> gradient(value.rows(), value.cols());
    for (Index i = 0; i < value.size(); ++i) {
        const double original = value.data()[i];
        const double step = relativeStep * std::max(1.0, std::abs(original));
        value.data()[i] = original + step;
        const double plus = loss();
        value.data()[i] = original - step;
        const double minus = loss();
        value.data()[i] = original;
        gradient.data()[i] = (plus - minus) / (2.0 * step);
    }
    return gradient;
}

double maxRelativeError(const Matrix<double>& analytic, const Matrix<double>& numeric, double floor,
                        Index* worstEntry) {
    if (worstEntry != nullptr) *worstEntry = 0;
    if (analytic.rows() != numeric.rows() || analytic.cols() != numeric.cols())
        return std::numeric_limits<double>::infinity();
    double largest = 0.0;
    for (Index i = 0; i < analytic.size(); ++i) {
        const double a = analytic.data()[i], n = numeric.data()[i];
        const double error = std::isfinite(a) && std::isfinite(n)
                                 ? std::abs(a - n) / std::max(std::abs(a) + std::abs(n), floor)
                                 : std::numeric_limits<double>::infinity();
        if (error > largest || (i == 0 && error == largest)) {
            largest = error;
            if (worstEntry != nullptr) *worstEntry = i;
        }
        if (std::isinf(largest)) break;
    }
    return largest;
}

Matrix<double> uniformEntries(Index rows, Index cols, Random& random) {
    Matrix<double> result(rows, cols);
    for (Index i = 0; i < result.size(); ++i) result.data()[i] = random.uniform(-1.0, 1.0);
    return result;
}

Matrix<double> entriesAwayFromZero(Index rows, Index cols, Random& random) {
    Matrix<double> result(rows, cols);
    for (Index i = 0; i < result.size(); ++i)
        result.data()[i] = (random.uniform() < 0.5 ? -1.0 : 1.0) * random.uniform(0.05, 2.0);
    return result;
}

}  // namespace gradlab::gradcheck
