/// @file layernorm.cpp
/// Layer normalisation (Ba, Kiros & Hinton 2016), as PyTorch's nn.LayerNorm over the feature axis.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// Layer normalisation of each column over its F features: x [F x n] -> y [F x n], the same in train and eval
/// (no running statistics; a sequence's columns are normalised one timestep at a time):
///   mu_j = mean_i x_ij, var_j = mean_i (x_ij - mu_j)^2 (biased), xhat_ij = (x_ij - mu_j) / sqrt(var_j + epsilon),
///   y_ij = gamma_i xhat_ij + beta_i with gamma, beta [F x 1] when `affine` (else y = xhat).
/// Backward, with dxhat = gamma dy and s_j = 1 / sqrt(var_j + epsilon):
///   dgamma += sum_cols(dy xhat), dbeta += sum_cols(dy),
///   dx_ij = s_j (dxhat_ij - mean_i dxhat_ij - xhat_ij mean_i (dxhat_ij xhat_ij)).
template <typename Scalar>
class LayerNorm : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;
    using RowVectorType = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

    /// Reads `epsilon` and `affine`.
    explicit LayerNorm(const gradlab::Options& options)
        : epsilon_(options.real("epsilon")), affine_(options.boolean("affine")) {}

    gradlab::Shape build(const gradlab::Shape& input) override {
        if (input.features < 1)
            throw gradlab::Error("layernorm needs at least one input feature, got " + std::to_string(input.features));
        features_ = input.features;
        if (affine_) {
            gamma_ = &this->addParameter(
                "gamma", features_, 1,
                gradlab::ParameterInit::bias(features_, features_, gradlab::InitializerSpec::constant(1.0)));
            beta_ = &this->addParameter("beta", features_, 1, gradlab::ParameterInit::bias(features_, features_));
        }
        built_ = true;
        return input;
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        (void)phase;
        if (!built_) throw gradlab::Error("layernorm used before build()");
        if (x.rows() != features_)
            throw gradlab::Error("layernorm built for " + std::to_string(features_) + " features, got input with " +
                                 std::to_string(x.rows()) + " rows");
        const Scalar count = static_cast<Scalar>(features_);
        mean_ = x.colwise().mean();
        normalized_ = x.rowwise() - mean_;
        inverseStd_ = (normalized_.colwise().squaredNorm().array() / count + static_cast<Scalar>(epsilon_))
                          .rsqrt()
                          .matrix();
        normalized_.array().rowwise() *= inverseStd_.array();
        if (affine_)
            y = ((normalized_.array().colwise() * gamma_->value.col(0).array()).colwise() +
                 beta_->value.col(0).array()).matrix();
        else
            y = normalized_;
        hasForward_ = true;
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        (void)x;
        (void)y;
        if (!hasForward_) throw gradlab::Error("layernorm: backward without a forward");
        if (dy.rows() != normalized_.rows() || dy.cols() != normalized_.cols())
            throw gradlab::Error("layernorm: dy is [" + std::to_string(dy.rows()) + " x " + std::to_string(dy.cols()) +
                                 "], the last forward gave [" + std::to_string(normalized_.rows()) + " x " +
                                 std::to_string(normalized_.cols()) + "]");
        if (affine_) {
            gamma_->grad.col(0) += (dy.array() * normalized_.array()).rowwise().sum().matrix();
            beta_->grad.col(0) += dy.rowwise().sum();
        }
        if (dx == nullptr) return;
        if (affine_) normalizedGrad_ = (dy.array().colwise() * gamma_->value.col(0).array()).matrix();
        const MatrixType& dxhat = affine_ ? normalizedGrad_ : dy;
        gradMean_ = dxhat.colwise().mean();
        gradDotNormalizedMean_ = (dxhat.array() * normalized_.array()).colwise().mean().matrix();
        *dx = (((dxhat.rowwise() - gradMean_).array() -
                normalized_.array().rowwise() * gradDotNormalizedMean_.array())
                   .rowwise() *
               inverseStd_.array())
                  .matrix();
    }

private:
    double epsilon_ = 1e-5;
    bool affine_ = true;
    bool built_ = false;
    bool hasForward_ = false;
    gradlab::Index features_ = 0;
    gradlab::Parameter<Scalar>* gamma_ = nullptr;
    gradlab::Parameter<Scalar>* beta_ = nullptr;
    RowVectorType mean_;                   ///< mu per column of the last forward, [1 x n]
    RowVectorType inverseStd_;             ///< s = 1 / sqrt(var + epsilon) per column, [1 x n]
    RowVectorType gradMean_;               ///< mean over features of dxhat, [1 x n]
    RowVectorType gradDotNormalizedMean_;  ///< mean over features of dxhat xhat, [1 x n]
    MatrixType normalized_;                ///< xhat of the last forward, [F x n]
    MatrixType normalizedGrad_;            ///< dxhat = gamma dy, [F x n]
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_layernorm", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addLayer<LayerNorm>("layernorm", "layer normalisation y = gamma (x - mu) / sqrt(var + epsilon) + beta, "
                                          "mu and var over each column's features (Ba et al. 2016)")
        .option(OptionSpec::real("epsilon", 1e-5, "added to the variance before the square root").above(0.0))
        .option(OptionSpec::boolean("affine", true, "learn gamma [F x 1] (ones) and beta [F x 1] (zeros)"));
}
