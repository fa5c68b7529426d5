/// @file max_norm.cpp
/// Max-norm constraint (Srivastava et al. 2014, with dropout): a projection after each update, not a penalty.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// No penalty and no gradient; project() rescales every row W_j (unit j's incoming weights, W being
/// [units x inputs]) whose L2 norm exceeds c = max_norm back onto the ball: W_j <- W_j c / ||W_j|| if ||W_j|| > c.
/// Rows inside the ball are left exactly as they are.
template <typename Scalar>
class MaxNorm : public gradlab::ProjectionRegularizer<Scalar> {
public:
    /// Reads `max_norm`.
    explicit MaxNorm(const gradlab::Options& options) : maxNorm_(options.real("max_norm")) {
        if (!(maxNorm_ > 0.0)) throw gradlab::Error("option 'max_norm' must be > 0, got " + std::to_string(maxNorm_));
    }

    /// One pass per row (unit), not per sample: the row's scale depends on its own norm, so a single colwise
    /// expression would read the row while rescaling it, and a scale vector would need state in this const object.
    void project(gradlab::Matrix<Scalar>& value) const override {
        const Scalar limit = static_cast<Scalar>(maxNorm_);
        for (gradlab::Index row = 0; row < value.rows(); ++row) {
            const Scalar norm = value.row(row).norm();
            if (norm > limit) value.row(row) *= limit / norm;
        }
    }

private:
    double maxNorm_ = 3.0;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_regularizers_max_norm", "1.0.0", registry) {
    registry
        .addRegularizer<MaxNorm>("max_norm", "after each update, rescale every row of W (a unit's incoming weights) "
                                             "with L2 norm above max_norm to max_norm; no penalty "
                                             "(Srivastava et al. 2014)")
        .option(gradlab::OptionSpec::real("max_norm", 3.0, "largest L2 norm allowed for a row of W").above(0.0));
}
