/// @file elastic_net.cpp
/// Elastic net weight penalty (Zou & Hastie 2005): the sum of an L1 and an L2 penalty.

#include "gradlab/sdk.hpp"

namespace {

/// R(W) = l1 sum_ij |W_ij| + l2 ||W||_F^2 (the L2 term as the l2 regularizer defines it, without a 1/2);
/// dR/dW = l1 sign(W) + 2 l2 W, with sign(0) = 0.
template <typename Scalar>
class ElasticNet : public gradlab::Regularizer<Scalar> {
public:
    /// Reads `l1` and `l2`.
    explicit ElasticNet(const gradlab::Options& options)
        : l1Coefficient_(options.real("l1")), l2Coefficient_(options.real("l2")) {}

    double penalty(const gradlab::Matrix<Scalar>& value) const override {
        const auto precise = value.template cast<double>();
        return l1Coefficient_ * precise.cwiseAbs().sum() + l2Coefficient_ * precise.squaredNorm();
    }

    void addGradient(const gradlab::Matrix<Scalar>& value, gradlab::Matrix<Scalar>& grad) const override {
        grad += static_cast<Scalar>(l1Coefficient_) * value.cwiseSign() +
                static_cast<Scalar>(2.0 * l2Coefficient_) * value;
    }

private:
    double l1Coefficient_ = 1e-4;
    double l2Coefficient_ = 1e-4;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_regularizers_elastic_net", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addRegularizer<ElasticNet>("elastic_net", "l1 sum |W| + l2 ||W||_F^2, gradient l1 sign(W) + 2 l2 W "
                                                   "(Zou & Hastie 2005)")
        .option(OptionSpec::real("l1", 1e-4, "coefficient of sum |W|").min(0.0))
        .option(OptionSpec::real("l2", 1e-4, "coefficient of ||W||_F^2").min(0.0));
}
