// A probe that uses everything a probe context offers, for the tests that a probe never disturbs training
// (tests/e2e/probe_test.cpp): train- and eval-phase forwards (batch norm's batch statistics), a backward from a
// middle layer (and its signal-only twin), the loss gradient, and parameters perturbed inside a ScopedPerturbation; it checks the loss
// gradient against a central difference along a random direction and writes what it found.
#include <cmath>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

template <typename Scalar>
class BusyProbe : public gradlab::Probe<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    explicit BusyProbe(const gradlab::Options& options) : epsilon_(options.real("epsilon")) {}

    void observe(gradlab::ProbeContext<Scalar>& context) override {
        const MatrixType& x = context.batch();
        // A train-phase forward (batch norm updates its running statistics, which the host restores) and a
        // backward from the middle layer.
        const std::size_t middle = context.layers().size() / 2;
        context.forward(x, gradlab::Phase::train);
        const MatrixType upstream = MatrixType::Ones(context.layerOutput(middle).rows(), context.layerOutput(middle).cols());
        const MatrixType fullGradient = context.backward(upstream, middle);
        const double middleGradient = fullGradient.norm();
        // The signal-only backward of the same forward gives the same input gradient.
        context.forward(x, gradlab::Phase::train);
        const double signalDifference = (context.backwardSignal(upstream, middle) - fullGradient).norm();

        // The loss gradient (eval phase: a function of the parameters alone) against a central difference.
        const double loss = context.lossGradient(x, context.batchTargets(), gradlab::Phase::eval);
        std::vector<MatrixType> directions, gradients;
        gradlab::Random random(static_cast<std::uint64_t>(context.step()) + 1);
        double directional = 0;
        for (std::size_t i = 0; i < context.parameterCount(); ++i) {
            const MatrixType& value = context.parameterValue(i);
            MatrixType direction(value.rows(), value.cols());
            for (gradlab::Index k = 0; k < direction.size(); ++k) direction.data()[k] = static_cast<Scalar>(random.normal(0.0, 1.0));
            directional += static_cast<double>((direction.array() * context.scratchGradient(i).array()).sum());
            directions.push_back(direction);
        }
        double plus = 0, minus = 0;
        for (double sign : {1.0, -1.0}) {
            gradlab::ScopedPerturbation<Scalar> perturbation(context);
            for (std::size_t i = 0; i < context.parameterCount(); ++i)
                context.perturbableValue(i) += static_cast<Scalar>(sign * epsilon_) * directions[i];
            (sign > 0 ? plus : minus) = context.lossGradient(x, context.batchTargets(), gradlab::Phase::eval);
        }
        const double difference = (plus - minus) / (2 * epsilon_);
        const double relativeError = std::abs(difference - directional) / std::max(1e-300, std::abs(directional));

        double training = 0;
        for (std::size_t i = 0; i < context.parameterCount(); ++i) training += context.parameterGradient(i).squaredNorm();
        const double row[] = {loss, middleGradient, relativeError, std::sqrt(training), signalDifference};
        context.write("loss", {}, &row[0]);
        context.write("middle/gradient_norm", {}, &row[1]);
        context.write("loss_gradient_error", {}, &row[2]);
        context.write("training_gradient_norm", {}, &row[3]);
        context.write("signal_only_difference", {}, &row[4]);
        context.setAttribute("about", "epsilon", epsilon_);
    }

private:
    double epsilon_;
};

}  // namespace

GRADLAB_PLUGIN("busy_probe", "1.0.0", registry) {
    registry.addProbe<BusyProbe>("busy_probe", "forwards, backwards, loss gradients and perturbations, for the tests")
        .option(gradlab::OptionSpec::real("epsilon", 1e-5, "central-difference step").above(0.0));
}
