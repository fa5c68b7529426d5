/// @file l1.cpp
/// L1 weight penalty (lasso, Tibshirani 1996), as in `Loss + coefficient sum |W|`; it drives weights to exactly 0.

#include "gradlab/sdk.hpp"

namespace {

/// R(W) = coefficient sum_ij |W_ij|; dR/dW = coefficient sign(W), with sign(0) = 0 (the sub-gradient that leaves
/// a zero weight alone).
template <typename Scalar>
class L1 : public gradlab::Regularizer<Scalar> {
public:
    /// Reads `coefficient`.
    explicit L1(const gradlab::Options& options) : coefficient_(options.real("coefficient")) {}

    double penalty(const gradlab::Matrix<Scalar>& value) const override {
        return coefficient_ * value.template cast<double>().cwiseAbs().sum();
    }

    void addGradient(const gradlab::Matrix<Scalar>& value, gradlab::Matrix<Scalar>& grad) const override {
        grad += static_cast<Scalar>(coefficient_) * value.cwiseSign();
    }

private:
    double coefficient_ = 1e-4;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_regularizers_l1", "1.0.0", registry) {
    registry.addRegularizer<L1>("l1", "coefficient sum |W|, gradient coefficient sign(W) with sign(0) = 0 (lasso)")
        .option(gradlab::OptionSpec::real("coefficient", 1e-4, "alpha in Loss + alpha sum |W|").min(0.0));
}
