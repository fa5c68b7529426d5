/// @file adagrad.cpp
/// Adagrad (Duchi, Hazan & Singer 2011), exactly as PyTorch's torch.optim.Adagrad with lr_decay 0 (and no weight
/// decay: penalties are regularizer plugins).

#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// Per slot, with learning rate lr (the host's scheduled value) and gradient g; the accumulator starts at
/// `initial_accumulator`:  s <- s + g^2,  delta = -lr g / (sqrt(s) + epsilon).
template <typename Scalar>
class Adagrad : public gradlab::Optimizer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `lr`, `epsilon` and `initial_accumulator`.
    explicit Adagrad(const gradlab::Options& options)
        : learningRate_(options.real("lr")),
          epsilon_(options.real("epsilon")),
          initialAccumulator_(options.real("initial_accumulator")),
          slots_("adagrad"),
          accumulator_(slots_.addTensor("sum_squares", static_cast<Scalar>(initialAccumulator_))) {}

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        (void)value;
        (void)step;
        slots_.check(slot, grad);
        MatrixType& accumulator = slots_.tensor(accumulator_, slot);
        accumulator.array() += grad.array().square();
        delta = (-static_cast<Scalar>(learningRate) * grad.array() /
                 (accumulator.array().sqrt() + static_cast<Scalar>(epsilon_)))
                    .matrix();
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override { slots_.visit(state); }

private:
    double learningRate_ = 0.01;
    double epsilon_ = 1e-10;
    double initialAccumulator_ = 0.0;
    gradlab::SlotState<Scalar> slots_;
    std::size_t accumulator_;  ///< s per slot
};

}  // namespace

GRADLAB_PLUGIN("gradlab_optimizers_adagrad", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addOptimizer<Adagrad>("adagrad", "s = s + g^2, w += -lr g / (sqrt(s) + eps) "
                                          "(Duchi et al. 2011; PyTorch's Adagrad without lr_decay)")
        .option(OptionSpec::real("lr", 0.01, "learning rate (scaled by the schedule)").above(0.0))
        .option(OptionSpec::real("epsilon", 1e-10, "added to sqrt(s) in the denominator").min(0.0))
        .option(OptionSpec::real("initial_accumulator", 0.0, "starting value of the squared-gradient sum s")
                    .min(0.0));
}
