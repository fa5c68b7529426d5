// A layer with a deliberately wrong backward, for `gradlab gradcheck`'s tests: y = tanh(W x + b), whose backward
// gets dL/dx and dL/dW right but drops the factor tanh'(z) = 1 - y^2 from dL/db. A gradient check must fail on
// "b", and on "b" only.
#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// y = tanh(z), z = W x + b, W [units x inputs], b [units x 1]. Correct: dz = dy (1 - y^2), dW += dz x^T,
/// db += sum over columns of dz, dx = W^T dz. This one accumulates db += sum over columns of dy instead.
template <typename Scalar>
class WrongBackward : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `units`.
    explicit WrongBackward(const gradlab::Options& options) : units_(options.integer("units")) {}

    gradlab::Shape build(const gradlab::Shape& input) override {
        gradlab::ParameterInit weightInit;
        weightInit.fanIn = input.features;
        weightInit.fanOut = units_;
        weightInit.initializer = "glorot_uniform";
        weightInit.isWeight = true;
        weight_ = &this->addParameter("W", units_, input.features, weightInit);
        bias_ = &this->addParameter("b", units_, 1, gradlab::ParameterInit{});
        return gradlab::Shape{units_, input.timesteps};
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase) override {
        y.noalias() = weight_->value * x;
        y.colwise() += bias_->value.col(0);
        y = y.array().tanh().matrix();
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        const MatrixType dz = (dy.array() * (Scalar(1) - y.array().square())).matrix();
        weight_->grad.noalias() += dz * x.transpose();
        bias_->grad.col(0) += dy.rowwise().sum();  // wrong on purpose: should be dz
        if (dx != nullptr) dx->noalias() = weight_->value.transpose() * dz;
    }

private:
    gradlab::Index units_ = 0;
    gradlab::Parameter<Scalar>* weight_ = nullptr;
    gradlab::Parameter<Scalar>* bias_ = nullptr;
};

}  // namespace

GRADLAB_PLUGIN("wrong_backward", "1.0.0", registry) {
    registry.addLayer<WrongBackward>("wrong_backward", "tanh(W x + b) whose backward drops tanh' from dL/db")
        .option(gradlab::OptionSpec::integer("units", 3, "number of output features").min(1));
}
