/// @file sgd.cpp
/// Stochastic gradient descent with optional (Nesterov) momentum, exactly as PyTorch's torch.optim.SGD
/// (dampening 0, no weight decay: penalties are regularizer plugins).

#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// Per slot, with learning rate lr (the host's scheduled value), momentum mu and gradient g:
///   plain (mu = 0):   delta = -lr g
///   momentum:         v <- mu v + g, delta = -lr v                 (Polyak 1964; v starts at 0)
///   nesterov:         v <- mu v + g, delta = -lr (g + mu v)        (Sutskever et al. 2013)
/// Starting v at 0 matches PyTorch, whose first step sets v = g.
template <typename Scalar>
class Sgd : public gradlab::Optimizer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `lr`, `momentum` and `nesterov`; nesterov needs momentum > 0.
    explicit Sgd(const gradlab::Options& options)
        : learningRate_(options.real("lr")),
          momentum_(options.real("momentum")),
          nesterov_(options.boolean("nesterov")),
          slots_("sgd") {
        if (nesterov_ && momentum_ == 0.0)
            throw gradlab::Error("option 'nesterov' needs 'momentum' > 0, got momentum = 0");
        if (momentum_ != 0.0) velocity_ = slots_.addTensor("velocity");
    }

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        slots_.check(slot, grad);
        const Scalar rate = static_cast<Scalar>(learningRate);
        if (momentum_ == 0.0) {
            delta.noalias() = -rate * grad;
            return;
        }
        const Scalar momentum = static_cast<Scalar>(momentum_);
        MatrixType& velocity = slots_.tensor(velocity_, slot);
        velocity = momentum * velocity + grad;
        if (nesterov_)
            delta.noalias() = -rate * (grad + momentum * velocity);
        else
            delta.noalias() = -rate * velocity;
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override { slots_.visit(state); }

private:
    double learningRate_ = 0.01;
    double momentum_ = 0.0;
    bool nesterov_ = false;
    gradlab::SlotState<Scalar> slots_;
    std::size_t velocity_ = 0;  ///< v per slot (declared with momentum only)
};

}  // namespace

GRADLAB_PLUGIN("gradlab_optimizers_sgd", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry.addOptimizer<Sgd>("sgd", "w += -lr g, or with momentum v = mu v + g, w += -lr v "
                                      "(nesterov: -lr (g + mu v)); PyTorch's SGD")
        .option(OptionSpec::real("lr", 0.01, "learning rate (scaled by the schedule)").above(0.0))
        .option(OptionSpec::real("momentum", 0.0, "momentum factor mu").min(0.0).below(1.0))
        .option(OptionSpec::boolean("nesterov", false, "Nesterov momentum (needs momentum > 0)"));
}
