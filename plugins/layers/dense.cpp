/// @file dense.cpp
/// The fully connected layer, y = f(W x + b).

#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// Fully connected layer: y = f(z), z = W x + b, with W [units x inputs], b [units x 1], x [inputs x n],
/// y [units x n]; f is the `activation` option (identity by default), a child module named "activation"
/// (a prelu slope inside is `layers.N.dense.activation.slope`). Sequences are wider batches, so the same W
/// is applied at every timestep. Backward: dz = dy f'(z), dW += dz x^T, db += sum over columns of dz,
/// dx = W^T dz. Without an activation a training step is exactly three matrix products.
/// Default initialisation: W glorot_uniform (Glorot & Bengio 2010), b zeros.
template <typename Scalar>
class Dense : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `units`, `bias` and builds the `activation` child.
    explicit Dense(const gradlab::Options& options)
        : units_(options.integer("units")),
          hasBias_(options.boolean("bias")),
          isIdentity_(options.plugin("activation").name == "identity"),
          activation_(gradlab::makeActivation<Scalar>(options, "activation")) {
        if (units_ < 1) throw gradlab::Error("option 'units' must be >= 1, got " + std::to_string(units_));
        this->addChild("activation", *activation_);
    }

    gradlab::Shape build(const gradlab::Shape& input) override {
        if (input.features < 1)
            throw gradlab::Error("dense needs at least one input feature, got " + std::to_string(input.features));
        inputs_ = input.features;
        weight_ = &this->addParameter("W", units_, inputs_, gradlab::ParameterInit::weight(inputs_, units_));
        if (hasBias_) bias_ = &this->addParameter("b", units_, 1, gradlab::ParameterInit::bias(inputs_, units_));
        activation_->build(units_);
        return gradlab::Shape{units_, input.timesteps};
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        if (weight_ == nullptr) throw gradlab::Error("dense used before build()");
        if (x.rows() != inputs_)
            throw gradlab::Error("dense built for " + std::to_string(inputs_) + " input features, got input with " +
                                 std::to_string(x.rows()) + " rows");
        MatrixType& z = isIdentity_ ? y : preActivation_;
        z.noalias() = weight_->value * x;
        if (hasBias_) z.colwise() += bias_->value.col(0);
        if (!isIdentity_) {
            activation_->forward(preActivation_, y);
            if (this->tracing() && phase == gradlab::Phase::train)
                activation_->unitMaxSlope(preActivation_, y, slopeScratch_, unitMaxSlope_);
        }
    }

    /// While tracing: "unit_max_slope" [units], the largest |f'(z)| of each unit over the batch.
    void statistics(gradlab::StatisticsSink& sink) const override {
        if (!isIdentity_ && this->tracing() && !unitMaxSlope_.empty())
            sink.add("unit_max_slope", unitMaxSlope_.data(), static_cast<gradlab::Index>(unitMaxSlope_.size()));
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        if (!isIdentity_) activation_->backward(preActivation_, y, dy, &preActivationGrad_);
        const MatrixType& dz = isIdentity_ ? dy : preActivationGrad_;
        if (this->parameterGradientsWanted()) {
            weight_->grad.noalias() += dz * x.transpose();
            if (hasBias_) bias_->grad.col(0) += dz.rowwise().sum();
        }
        if (dx != nullptr) dx->noalias() = weight_->value.transpose() * dz;
    }

    /// W's per-sample gradient factors are (dz, x), b's (dz, ones): column c adds dz_c x_c^T and dz_c. None when
    /// the activation has parameters of its own (prelu's slope is not of that form).
    bool sampleGradientFactors(const MatrixType& x, const MatrixType& dy,
                               std::vector<gradlab::SampleGradientFactor<Scalar>>& factors) const override {
        std::vector<gradlab::NamedParameter<Scalar>> own;
        activation_->collectParameters("", own);
        if (!own.empty()) return false;
        const MatrixType* dz = isIdentity_ ? &dy : &preActivationGrad_;
        factors.clear();
        factors.push_back({dz, &x});
        if (hasBias_) factors.push_back({dz, nullptr});
        return true;
    }

private:
    gradlab::Index units_ = 0;
    gradlab::Index inputs_ = 0;
    bool hasBias_ = true;
    bool isIdentity_ = false;  ///< f is the identity: z is y, no activation pass
    std::shared_ptr<gradlab::Activation<Scalar>> activation_;
    gradlab::Parameter<Scalar>* weight_ = nullptr;
    gradlab::Parameter<Scalar>* bias_ = nullptr;
    MatrixType preActivation_;      ///< z = W x + b from the last forward, [units x n]
    MatrixType preActivationGrad_;  ///< dLoss/dz, [units x n]
    MatrixType slopeScratch_;       ///< f'(z) while tracing
    std::vector<double> unitMaxSlope_;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_dense", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry.addLayer<Dense>("dense", "fully connected y = f(W x + b), W [units x inputs] glorot_uniform, b zeros")
        .option(OptionSpec::integer("units", 0, "number of output features").requiredValue().min(1))
        .option(OptionSpec::boolean("bias", true, "add a learned bias b [units x 1] (initialised to zeros)"))
        .option(OptionSpec::activation("activation", "identity", "f applied to W x + b, e.g. tanh or "
                                                                 "{kind: leaky_relu, alpha: 0.1}"));
}
