/// @file l2.cpp
/// L2 weight penalty (weight decay, Krogh & Hertz 1992), as in `Loss + alpha ||W||^2`.

#include "gradlab/sdk.hpp"

namespace {

/// R(W) = coefficient ||W||_F^2 = coefficient sum_ij W_ij^2; dR/dW = 2 coefficient W.
/// (Note the factor 2: SGD weight decay lambda corresponds to coefficient = lambda / 2.)
template <typename Scalar>
class L2 : public gradlab::Regularizer<Scalar> {
public:
    /// Reads `coefficient`.
    explicit L2(const gradlab::Options& options) : coefficient_(options.real("coefficient")) {}

    double penalty(const gradlab::Matrix<Scalar>& value) const override {
        return coefficient_ * value.template cast<double>().squaredNorm();
    }

    void addGradient(const gradlab::Matrix<Scalar>& value, gradlab::Matrix<Scalar>& grad) const override {
        grad += static_cast<Scalar>(2.0 * coefficient_) * value;
    }

private:
    double coefficient_ = 1e-4;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_regularizers_l2", "1.0.0", registry) {
    registry.addRegularizer<L2>("l2", "coefficient ||W||_F^2, gradient 2 coefficient W (weight decay)")
        .option(gradlab::OptionSpec::real("coefficient", 1e-4, "alpha in Loss + alpha ||W||^2").min(0.0));
}
