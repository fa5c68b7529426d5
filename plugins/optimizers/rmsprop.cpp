/// @file rmsprop.cpp
/// RMSprop (Hinton, Coursera lecture 6e, 2012; centered variant Graves 2013), exactly as PyTorch's
/// torch.optim.RMSprop (no weight decay: penalties are regularizer plugins).

#include <cmath>
#include <sstream>
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
          centered_(options.boolean("centered")) {}

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override {
        slots_ = parameters;
        squareAverages_.clear();
        gradAverages_.clear();
        momentumBuffers_.clear();
        for (const auto& slot : parameters) {
            squareAverages_.push_back(MatrixType::Zero(slot.rows, slot.cols));
            if (centered_) gradAverages_.push_back(MatrixType::Zero(slot.rows, slot.cols));
            if (momentum_ > 0.0) momentumBuffers_.push_back(MatrixType::Zero(slot.rows, slot.cols));
        }
    }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        (void)value;
        (void)step;
        checkSlot(slot, grad);
        const Scalar alpha = static_cast<Scalar>(alpha_);
        const Scalar gradWeight = static_cast<Scalar>(1.0 - alpha_);  // in double, rounded once
        const Scalar epsilon = static_cast<Scalar>(epsilon_);
        const Scalar rate = static_cast<Scalar>(learningRate);
        MatrixType& squareAverage = squareAverages_[slot];
        squareAverage.array() = alpha * squareAverage.array() + gradWeight * grad.array().square();
        if (centered_) {
            MatrixType& gradAverage = gradAverages_[slot];
            gradAverage = alpha * gradAverage + gradWeight * grad;
            applyStep(slot, grad, (squareAverage.array() - gradAverage.array().square()).sqrt() + epsilon, rate,
                      delta);
        } else {
            applyStep(slot, grad, squareAverage.array().sqrt() + epsilon, rate, delta);
        }
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override {
        for (std::size_t i = 0; i < squareAverages_.size(); ++i) state.tensor(slots_[i].name + ".square_avg", squareAverages_[i]);
        for (std::size_t i = 0; i < gradAverages_.size(); ++i) state.tensor(slots_[i].name + ".grad_avg", gradAverages_[i]);
        for (std::size_t i = 0; i < momentumBuffers_.size(); ++i)
            state.tensor(slots_[i].name + ".momentum_buffer", momentumBuffers_[i]);
    }

private:
    /// delta = -lr g / d, or with momentum b <- momentum b + g / d, delta = -lr b; d is an array expression.
    template <typename Denominator>
    void applyStep(std::size_t slot, const MatrixType& grad, const Denominator& denominator, Scalar rate,
                   MatrixType& delta) {
        if (momentum_ > 0.0) {
            MatrixType& buffer = momentumBuffers_[slot];
            buffer.array() = static_cast<Scalar>(momentum_) * buffer.array() + grad.array() / denominator;
            delta = -rate * buffer;
        } else {
            delta = (-rate * grad.array() / denominator).matrix();
        }
    }

    /// Throws unless `slot` was attached with grad's shape.
    void checkSlot(std::size_t slot, const MatrixType& grad) const {
        if (slot >= slots_.size())
            throw gradlab::Error("rmsprop: update of slot " + std::to_string(slot) + ", but " +
                                 std::to_string(slots_.size()) + " parameters were attached");
        if (grad.rows() != slots_[slot].rows || grad.cols() != slots_[slot].cols) {
            std::ostringstream message;
            message << "rmsprop: gradient of '" << slots_[slot].name << "' is [" << grad.rows() << " x "
                    << grad.cols() << "], attached as [" << slots_[slot].rows << " x " << slots_[slot].cols << "]";
            throw gradlab::Error(message.str());
        }
    }

    double learningRate_ = 0.01;
    double alpha_ = 0.99;
    double epsilon_ = 1e-8;
    double momentum_ = 0.0;
    bool centered_ = false;
    std::vector<gradlab::ParameterSlot> slots_;
    std::vector<MatrixType> squareAverages_;   ///< s per slot
    std::vector<MatrixType> gradAverages_;     ///< a per slot; empty unless centered
    std::vector<MatrixType> momentumBuffers_;  ///< b per slot; empty without momentum
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
