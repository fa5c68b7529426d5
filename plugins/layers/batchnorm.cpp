/// @file batchnorm.cpp
/// Batch normalisation (Ioffe & Szegedy 2015), with running statistics as PyTorch's nn.BatchNorm1d keeps them.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// Batch normalisation per feature over every column of the batch: x [F x n] -> y [F x n], where a sequence
/// [F x (T * batch)] counts all T * batch columns as the batch (statistics shared over time).
///   train: mu = mean_cols(x), var = mean_cols((x - mu)^2) (biased), xhat = (x - mu) / sqrt(var + epsilon),
///          running_mean <- (1 - momentum) running_mean + momentum mu,
///          running_var  <- (1 - momentum) running_var + momentum var n / (n - 1) (unbiased, as PyTorch);
///   eval:  xhat = (x - running_mean) / sqrt(running_var + epsilon), running statistics untouched;
///   both:  y = gamma xhat + beta with gamma, beta [F x 1] when `affine` (else y = xhat).
/// Backward, with dxhat = gamma dy and s = 1 / sqrt(var + epsilon):
///   dgamma += sum_cols(dy xhat), dbeta += sum_cols(dy);
///   train: dx = s (dxhat - mean_cols(dxhat) - xhat mean_cols(dxhat xhat))  (the batch statistics depend on x);
///   eval:  dx = s dxhat                                                      (an affine map of x).
template <typename Scalar>
class BatchNorm : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;
    using VectorType = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

    /// Reads `momentum`, `epsilon` and `affine`.
    explicit BatchNorm(const gradlab::Options& options)
        : momentum_(options.real("momentum")), epsilon_(options.real("epsilon")), affine_(options.boolean("affine")) {}

    gradlab::Shape build(const gradlab::Shape& input) override {
        if (input.features < 1)
            throw gradlab::Error("batchnorm needs at least one input feature, got " + std::to_string(input.features));
        features_ = input.features;
        if (affine_) {
            gamma_ = &this->addParameter(
                "gamma", features_, 1,
                gradlab::ParameterInit::bias(features_, features_, gradlab::InitializerSpec::constant(1.0)));
            beta_ = &this->addParameter("beta", features_, 1, gradlab::ParameterInit::bias(features_, features_));
        }
        runningMean_ = &this->addBuffer("running_mean", features_, 1);
        runningVariance_ = &this->addBuffer("running_var", features_, 1);
        runningVariance_->value.setOnes();
        center_.resize(features_);
        variance_.resize(features_);
        inverseStd_.resize(features_);
        scale_.resize(features_);
        gradSum_.resize(features_);
        gradDotNormalizedSum_.resize(features_);
        return input;
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        if (runningMean_ == nullptr) throw gradlab::Error("batchnorm used before build()");
        if (x.rows() != features_)
            throw gradlab::Error("batchnorm built for " + std::to_string(features_) + " features, got input with " +
                                 std::to_string(x.rows()) + " rows");
        const Index columns = x.cols();
        // Column by column (the storage order), vectorised over the features. xhat is not kept: backward
        // recomputes it from x, (x - center_) inverseStd_, which saves writing and reading back a copy of x.
        if (phase == gradlab::Phase::train) {
            if (columns < 2)
                throw gradlab::Error("batchnorm needs more than 1 value per feature in training (batch statistics), "
                                     "got " + std::to_string(columns) + " column(s)");
            center_.setZero();
            for (Index c = 0; c < columns; ++c) center_ += x.col(c);
            center_ /= static_cast<Scalar>(columns);
            variance_.setZero();
            for (Index c = 0; c < columns; ++c) variance_ += (x.col(c) - center_).cwiseAbs2();
            variance_ /= static_cast<Scalar>(columns);
            inverseStd_ = (variance_.array() + static_cast<Scalar>(epsilon_)).rsqrt().matrix();

            const Scalar momentum = static_cast<Scalar>(momentum_);
            const Scalar keep = static_cast<Scalar>(1.0 - momentum_);  // in double, rounded once
            const Scalar varianceWeight =
                static_cast<Scalar>(momentum_ * static_cast<double>(columns) / static_cast<double>(columns - 1));
            runningMean_->value.col(0) = keep * runningMean_->value.col(0) + momentum * center_;
            runningVariance_->value.col(0) = keep * runningVariance_->value.col(0) + varianceWeight * variance_;
        } else {
            center_ = runningMean_->value.col(0);
            inverseStd_ = (runningVariance_->value.col(0).array() + static_cast<Scalar>(epsilon_)).rsqrt().matrix();
        }
        // y = gamma (x - center) s + beta = (x - center) scale + beta, scale = gamma s (centred first: no
        // cancellation for inputs far from zero).
        scale_ = affine_ ? inverseStd_.cwiseProduct(gamma_->value.col(0)) : inverseStd_;
        y.resize(features_, columns);
        if (affine_)
            for (Index c = 0; c < columns; ++c)
                y.col(c).array() =
                    (x.col(c).array() - center_.array()) * scale_.array() + beta_->value.col(0).array();
        else
            for (Index c = 0; c < columns; ++c) y.col(c).array() = (x.col(c).array() - center_.array()) * scale_.array();
        lastPhase_ = phase;
        lastColumns_ = columns;
        hasForward_ = true;
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        (void)y;
        if (!hasForward_) throw gradlab::Error("batchnorm: backward without a forward");
        if (dy.rows() != features_ || dy.cols() != lastColumns_ || x.rows() != features_ || x.cols() != lastColumns_)
            throw gradlab::Error("batchnorm: x is [" + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) +
                                 "] and dy [" + std::to_string(dy.rows()) + " x " + std::to_string(dy.cols()) +
                                 "], the last forward was on [" + std::to_string(features_) + " x " +
                                 std::to_string(lastColumns_) + "]");
        // One pass for the two sums over the batch, sum(dy) and sum(dy xhat), from which come the parameter
        // gradients and, with dxhat = gamma dy, mean(dxhat) = gamma sum(dy) / n and mean(dxhat xhat) = gamma
        // sum(dy xhat) / n; then one pass for dx.
        const Index columns = dy.cols();
        gradSum_.setZero();
        gradDotNormalizedSum_.setZero();
        for (Index c = 0; c < columns; ++c) {
            gradSum_ += dy.col(c);
            gradDotNormalizedSum_.array() +=
                dy.col(c).array() * (x.col(c).array() - center_.array()) * inverseStd_.array();
        }
        if (affine_) {
            gamma_->grad.col(0) += gradDotNormalizedSum_;
            beta_->grad.col(0) += gradSum_;
        }
        if (dx == nullptr) return;
        // dx = scale dy - scale mean(dy) - xhat scale mean(dy xhat) in training (scale = gamma s), and scale dy in
        // evaluation; with xhat = (x - center) s: dx = scale dy - b - (x - center) a, b = scale mean(dy),
        // a = s scale mean(dy xhat).
        dx->resize(features_, columns);
        if (lastPhase_ == gradlab::Phase::train) {
            const Scalar share = Scalar(1) / static_cast<Scalar>(columns);
            gradDotNormalizedSum_ = gradDotNormalizedSum_.cwiseProduct(scale_).cwiseProduct(inverseStd_) * share;
            gradSum_ = gradSum_.cwiseProduct(scale_) * share;
            for (Index c = 0; c < columns; ++c)
                dx->col(c).array() = scale_.array() * dy.col(c).array() - gradSum_.array() -
                                     (x.col(c).array() - center_.array()) * gradDotNormalizedSum_.array();
        } else {
            for (Index c = 0; c < columns; ++c) dx->col(c) = scale_.cwiseProduct(dy.col(c));
        }
    }

    /// In training each sample's output depends on the whole batch through mu and var; in eval it is an affine
    /// map of the sample alone.
    bool couplesSamples(gradlab::Phase phase) const override { return phase == gradlab::Phase::train; }

    /// In eval, sample i's gradients are g_i(gamma) = dy_i o xhat_i and g_i(beta) = dy_i: columns of [F x B]
    /// matrices, each a factor with a row of ones on the right (as a bias's). In training there are none (the
    /// samples are coupled; couplesSamples()).
    bool sampleGradientFactors(const MatrixType& x, const MatrixType& dy,
                               std::vector<gradlab::SampleGradientFactor<Scalar>>& factors) const override {
        if (lastPhase_ == gradlab::Phase::train || !hasForward_ || x.rows() != features_ || dy.rows() != features_ ||
            x.cols() != dy.cols())
            return false;
        factors.clear();
        if (!affine_) return true;  // no parameters
        sampleGammaGradient_ = dy.cwiseProduct(
            ((x.colwise() - center_).array().colwise() * inverseStd_.array()).matrix());
        factors.push_back({&sampleGammaGradient_, nullptr});
        factors.push_back({&dy, nullptr});
        return true;
    }

private:
    using Index = gradlab::Index;

    double momentum_ = 0.1;
    double epsilon_ = 1e-5;
    bool affine_ = true;
    Index features_ = 0;
    gradlab::Parameter<Scalar>* gamma_ = nullptr;
    gradlab::Parameter<Scalar>* beta_ = nullptr;
    gradlab::Buffer<Scalar>* runningMean_ = nullptr;
    gradlab::Buffer<Scalar>* runningVariance_ = nullptr;
    gradlab::Phase lastPhase_ = gradlab::Phase::train;
    bool hasForward_ = false;
    Index lastColumns_ = 0;             ///< columns of the last forward
    VectorType center_;                 ///< mu of the last train forward, or running_mean in eval, [F]
    VectorType variance_;               ///< biased batch variance of the last train forward, [F]
    VectorType inverseStd_;             ///< s = 1 / sqrt(var + epsilon) used by the last forward, [F]
    VectorType scale_;                  ///< gamma s (s without affine), [F]
    VectorType gradSum_;                ///< sum_cols(dy), then the constant term of dx, b, [F]
    VectorType gradDotNormalizedSum_;   ///< sum_cols(dy xhat), then the factor of (x - center) in dx, a, [F]
    mutable MatrixType sampleGammaGradient_;  ///< dy o xhat of the last eval backward, [F x B] (for probes)
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_batchnorm", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addLayer<BatchNorm>("batchnorm", "batch normalisation y = gamma (x - mu) / sqrt(var + epsilon) + beta per "
                                          "feature over the batch, running statistics for eval "
                                          "(Ioffe & Szegedy 2015; PyTorch's BatchNorm1d)")
        .option(OptionSpec::real("momentum", 0.1, "running = (1 - momentum) running + momentum batch statistic")
                    .min(0.0)
                    .max(1.0))
        .option(OptionSpec::real("epsilon", 1e-5, "added to the variance before the square root").above(0.0))
        .option(OptionSpec::boolean("affine", true, "learn gamma [F x 1] (ones) and beta [F x 1] (zeros)"));
}
