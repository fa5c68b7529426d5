/// @file rmsprop.cpp
/// RMSprop (Hinton, Coursera lecture 6e, 2012; centered variant Graves 2013), exactly as PyTorch's
/// torch.optim.RMSprop (no weight decay: penalties are regularizer plugins).

#include <cmath>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// Per slot, with learning rate lr (the host's scheduled value) and gradient g; s, a, b start at 0:
///   s <- alpha s + (1 - alpha) g^2
///   plain:     d = sqrt(s) + epsilon
///   centered:  a <- alpha a + (1 - alpha) g,  d = sqrt(s - a^2) + epsilon
///   momentum = 0:  delta = -lr g / d
///   momentum > 0:  b <- momentum b + g / d,  delta = -lr b
/// Epsilon is added outside the square root, as PyTorch does.
template <typename Scalar>
class RmsProp : public gradlab::Optimizer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `lr`, `alpha`, `epsilon`, `momentum` and `centered`.
    explicit RmsProp(const gradlab::Options& options)
        : learningRate_(options.real("lr")),
          alpha_(options.real("alpha")),
          epsilon_(options.real("epsilon")),
          momentum_(options.real("momentum")),
          centered_(options.boolean("centered")),
          slots_("rmsprop"),
          squareAverage_(slots_.addTensor("square_avg")) {
        if (centered_) gradAverage_ = slots_.addTensor("grad_avg");
        if (momentum_ > 0.0) momentumBuffer_ = slots_.addTensor("momentum_buffer");
    }

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        (void)value;
        (void)step;
        slots_.check(slot, grad);
        const Scalar alpha = static_cast<Scalar>(alpha_);
        const Scalar gradWeight = static_cast<Scalar>(1.0 - alpha_);  // in double, rounded once
        const Scalar epsilon = static_cast<Scalar>(epsilon_);
        const Scalar rate = static_cast<Scalar>(learningRate);
        MatrixType& squareAverage = slots_.tensor(squareAverage_, slot);
        squareAverage.array() = alpha * squareAverage.array() + gradWeight * grad.array().square();
        if (centered_) {
            MatrixType& gradAverage = slots_.tensor(gradAverage_, slot);
            gradAverage = alpha * gradAverage + gradWeight * grad;
            applyStep(slot, grad, (squareAverage.array() - gradAverage.array().square()).sqrt() + epsilon, rate,
                      delta);
        } else {
            applyStep(slot, grad, squareAverage.array().sqrt() + epsilon, rate, delta);
        }
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override { slots_.visit(state); }

private:
    /// delta = -lr g / d, or with momentum b <- momentum b + g / d, delta = -lr b; d is an array expression.
    template <typename Denominator>
    void applyStep(std::size_t slot, const MatrixType& grad, const Denominator& denominator, Scalar rate,
                   MatrixType& delta) {
        if (momentum_ > 0.0) {
            MatrixType& buffer = slots_.tensor(momentumBuffer_, slot);
            buffer.array() = static_cast<Scalar>(momentum_) * buffer.array() + grad.array() / denominator;
            delta = -rate * buffer;
        } else {
            delta = (-rate * grad.array() / denominator).matrix();
        }
    }

    double learningRate_ = 0.01;
    double alpha_ = 0.99;
    double epsilon_ = 1e-8;
    double momentum_ = 0.0;
    bool centered_ = false;
    gradlab::SlotState<Scalar> slots_;
    std::size_t squareAverage_;       ///< s per slot
    std::size_t gradAverage_ = 0;     ///< a per slot (declared when centered)
    std::size_t momentumBuffer_ = 0;  ///< b per slot (declared with momentum)
};

}  // namespace

GRADLAB_PLUGIN("gradlab_optimizers_rmsprop", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addOptimizer<RmsProp>("rmsprop", "s = alpha s + (1 - alpha) g^2, w += -lr g / (sqrt(s) + eps); centered "
                                          "subtracts the squared mean gradient, momentum accumulates g / d "
                                          "(Hinton 2012; PyTorch's RMSprop)")
        .option(OptionSpec::real("lr", 0.01, "learning rate (scaled by the schedule)").above(0.0))
        .option(OptionSpec::real("alpha", 0.99, "decay of the squared-gradient average s").min(0.0).max(1.0))
        .option(OptionSpec::real("epsilon", 1e-8, "added to the square root in the denominator").min(0.0))
        .option(OptionSpec::real("momentum", 0.0, "momentum factor of the step buffer").min(0.0).below(1.0))
        .option(OptionSpec::boolean("centered", false, "divide by an estimate of the gradient's standard deviation "
                                                       "sqrt(s - a^2), a the average gradient"));
}
