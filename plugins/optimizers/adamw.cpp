/// @file adamw.cpp
/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, exactly as PyTorch's torch.optim.AdamW
/// (amsgrad off).

#include <cmath>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// Per slot, with learning rate lr (the host's scheduled value), value w, gradient g and step t from 1:
///   m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2            (m, v start at 0)
///   delta = -lr weight_decay w - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
/// The decay acts on the value directly, not through g (so it is not rescaled by 1 / sqrt(v)); PyTorch's
/// w <- w (1 - lr weight_decay) followed by the Adam step gives exactly this delta.
template <typename Scalar>
class AdamW : public gradlab::Optimizer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `lr`, `beta1`, `beta2`, `epsilon` and `weight_decay`.
    explicit AdamW(const gradlab::Options& options)
        : learningRate_(options.real("lr")),
          beta1_(options.real("beta1")),
          beta2_(options.real("beta2")),
          epsilon_(options.real("epsilon")),
          weightDecay_(options.real("weight_decay")),
          slots_("adamw"),
          firstMoment_(slots_.addTensor("exp_avg")),
          secondMoment_(slots_.addTensor("exp_avg_sq")) {}

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        slots_.check(slot, value, grad);
        slots_.checkStep(step);
        const double biasCorrection1 = 1.0 - std::pow(beta1_, static_cast<double>(step));
        const double biasCorrection2 = 1.0 - std::pow(beta2_, static_cast<double>(step));
        const Scalar stepSize = static_cast<Scalar>(learningRate / biasCorrection1);
        const Scalar biasCorrection2Sqrt = static_cast<Scalar>(std::sqrt(biasCorrection2));
        const Scalar decay = static_cast<Scalar>(learningRate * weightDecay_);
        // 1 - beta in double, rounded once: in float32, 1 - 0.999f is off by 5e-5 relative.
        const Scalar beta1 = static_cast<Scalar>(beta1_), beta2 = static_cast<Scalar>(beta2_);
        const Scalar gradWeight1 = static_cast<Scalar>(1.0 - beta1_);
        const Scalar gradWeight2 = static_cast<Scalar>(1.0 - beta2_);
        MatrixType& m = slots_.tensor(firstMoment_, slot);
        MatrixType& v = slots_.tensor(secondMoment_, slot);
        m = beta1 * m + gradWeight1 * grad;
        v.array() = beta2 * v.array() + gradWeight2 * grad.array().square();
        delta = (-decay * value.array() -
                 stepSize * m.array() / (v.array().sqrt() / biasCorrection2Sqrt + static_cast<Scalar>(epsilon_)))
                    .matrix();
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override { slots_.visit(state); }

private:
    double learningRate_ = 1e-3;
    double beta1_ = 0.9;
    double beta2_ = 0.999;
    double epsilon_ = 1e-8;
    double weightDecay_ = 0.01;
    gradlab::SlotState<Scalar> slots_;
    std::size_t firstMoment_;   ///< m per slot
    std::size_t secondMoment_;  ///< v per slot
};

}  // namespace

GRADLAB_PLUGIN("gradlab_optimizers_adamw", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addOptimizer<AdamW>("adamw", "Adam plus decoupled decay: w += -lr wd w - lr/(1 - b1^t) m / "
                                      "(sqrt(v / (1 - b2^t)) + eps) (Loshchilov & Hutter 2019; PyTorch's AdamW)")
        .option(OptionSpec::real("lr", 1e-3, "learning rate (scaled by the schedule)").above(0.0))
        .option(OptionSpec::real("beta1", 0.9, "decay of the first-moment average m").min(0.0).below(1.0))
        .option(OptionSpec::real("beta2", 0.999, "decay of the second-moment average v").min(0.0).below(1.0))
        .option(OptionSpec::real("epsilon", 1e-8, "added to the bias-corrected sqrt(v) in the denominator").min(0.0))
        .option(OptionSpec::real("weight_decay", 0.01, "decoupled decay: the delta includes -lr weight_decay w")
                    .min(0.0));
}
