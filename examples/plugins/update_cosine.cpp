/// @file update_cosine.cpp
/// An out-of-tree probe plugin: the cosine between the gradient a step used and the update made one step before
/// it, cos(g_{s-1}, theta_{s-1} - theta_{s-2}), over all parameters at once. With plain SGD the update is
/// -lr g_{s-2}, so the value is -cos(g_{s-1}, g_{s-2}): near -1 while successive gradients agree, positive when
/// they oscillate across a valley. A cheap view of how consistent successive gradient directions are.

#include <cmath>
#include <limits>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// The table this probe writes: /probes/<name>/cosine [S].
constexpr const char* cosineTable = "cosine";

/// At probe step s: g = the gradient step s - 1 applied (ProbeContext::parameterGradient), u = theta_{s-1} -
/// theta_{s-2} from the parameters it saw at its two previous steps; writes g.u / (|g| |u|), NaN unless those
/// steps were s - 1 and s - 2 (so run it with `every: 1`) or when a norm is 0.
template <typename Scalar>
class UpdateCosine : public gradlab::Probe<Scalar> {
public:
    explicit UpdateCosine(const gradlab::Options&) {}

    void observe(gradlab::ProbeContext<Scalar>& context) override {
        const std::int64_t step = context.step();
        double cosine = std::numeric_limits<double>::quiet_NaN();
        if (previousStep_ == step - 1 && beforeStep_ == step - 2) {
            double dot = 0, gradientSquares = 0, updateSquares = 0;
            for (std::size_t i = 0; i < context.parameterCount(); ++i) {
                const Eigen::MatrixXd gradient = context.parameterGradient(i).template cast<double>();
                const Eigen::MatrixXd update = previous_[i] - before_[i];
                dot += (gradient.array() * update.array()).sum();
                gradientSquares += gradient.squaredNorm();
                updateSquares += update.squaredNorm();
            }
            if (gradientSquares > 0 && updateSquares > 0) cosine = dot / std::sqrt(gradientSquares * updateSquares);
        }
        context.write(cosineTable, {}, &cosine);
        // Keep the parameters of this step and the one before.
        before_.swap(previous_);
        beforeStep_ = previousStep_;
        previous_.resize(context.parameterCount());
        for (std::size_t i = 0; i < context.parameterCount(); ++i)
            previous_[i] = context.parameterValue(i).template cast<double>();
        previousStep_ = step;
    }

private:
    std::vector<Eigen::MatrixXd> previous_, before_;  ///< theta at the last and the second-to-last probe step
    std::int64_t previousStep_ = -10, beforeStep_ = -10;
};

}  // namespace

GRADLAB_PLUGIN("example_update_cosine", "1.0.0", registry) {
    registry.addProbe<UpdateCosine>("update_cosine",
                                    "cosine between the gradient step s - 1 applied and the update of step s - 2");
}
