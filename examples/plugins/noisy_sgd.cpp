/// @file noisy_sgd.cpp
/// An out-of-tree optimizer plugin: SGD with annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding
/// Gradient Noise Improves Learning for Very Deep Networks").

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// delta = -lr (g + n), n ~ N(0, sigma_t^2) entry-wise, with the annealed variance
///   sigma_t^2 = eta / (1 + t)^gamma,
/// t = step - 1 the number of earlier updates (so sigma_0^2 = eta). The paper uses eta in {0.01, 0.3, 1} and
/// gamma = 0.55. The noise comes from one random stream seeded by `seed`, drawn in slot order within a step, so a
/// run is reproducible; float32 and float64 runs draw the same numbers.
template <typename Scalar>
class NoisySgd : public gradlab::Optimizer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `lr`, `eta`, `gamma` and `seed`.
    explicit NoisySgd(const gradlab::Options& options)
        : learningRate_(options.real("lr")),
          eta_(options.real("eta")),
          gamma_(options.real("gamma")),
          random_(static_cast<std::uint64_t>(options.integer("seed"))),
          slots_("noisy_sgd") {}

    double learningRate() const override { return learningRate_; }

    void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }

    void update(std::size_t slot, const MatrixType& value, const MatrixType& grad, double learningRate,
                std::int64_t step, MatrixType& delta) override {
        slots_.check(slot, grad);
        const double updatesBefore = static_cast<double>(step > 0 ? step - 1 : 0);
        const double standardDeviation = std::sqrt(eta_ / std::pow(1.0 + updatesBefore, gamma_));
        delta.resize(grad.rows(), grad.cols());
        for (gradlab::Index i = 0; i < grad.size(); ++i)
            delta.data()[i] = static_cast<Scalar>(
                -learningRate * (static_cast<double>(grad.data()[i]) + random_.normal(0.0, standardDeviation)));
    }

    void visitState(gradlab::StateVisitor<Scalar>& state) override { state.random("noise", random_); }

private:
    double learningRate_ = 0.01;
    double eta_ = 0.01;
    double gamma_ = 0.55;
    gradlab::Random random_;
    gradlab::SlotState<Scalar> slots_;  ///< the attached slots (no per-slot tensors: the noise stream is shared)
};

}  // namespace

GRADLAB_PLUGIN("example_noisy_sgd", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addOptimizer<NoisySgd>("noisy_sgd", "w += -lr (g + n), n ~ N(0, eta / (1 + t)^gamma): SGD with annealed "
                                             "gradient noise (Neelakantan et al. 2015)")
        .option(OptionSpec::real("lr", 0.01, "learning rate (scaled by the schedule)").above(0.0))
        .option(OptionSpec::real("eta", 0.01, "noise variance at the first step").min(0.0))
        .option(OptionSpec::real("gamma", 0.55, "decay exponent of the noise variance").min(0.0))
        .option(OptionSpec::integer("seed", 0, "seed of the noise stream").min(0));
}
