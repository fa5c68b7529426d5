/// @file swish.cpp
/// An out-of-tree activation plugin with a learnable parameter: swish (Ramachandran et al. 2017, "Searching for
/// Activation Functions"), f(x) = x sigmoid(beta x) with beta learned.
///
/// Built against the installed SDK only (see CMakeLists.txt); checked with
///     gradlab gradcheck activation swish --plugin-path <build folder>

#include <cmath>
#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// Swish with a learnable beta, one scalar shared by all units: parameter "beta" [1 x 1], initialised to 1
/// (beta = 1 is SiLU, beta -> inf approaches relu, beta = 0 is x / 2). With s = sigmoid(beta x):
///   f(x)      = x s
///   f'(x)     = s + beta x s (1 - s)
///   df/dbeta  = x^2 s (1 - s),  so dL/dbeta = sum over units and batch of dy x^2 s (1 - s).
/// beta is not a weight: the default `params:` of a regularizer leaves it alone.
template <typename Scalar>
class Swish : public gradlab::Activation<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Declares "beta" [1 x 1], initialised to 1.
    void build(gradlab::Index units) override {
        if (units < 1) throw gradlab::Error("swish needs at least one unit, got " + std::to_string(units));
        beta_ = &this->addParameter("beta", 1, 1,
                                    gradlab::ParameterInit::bias(1, 1, gradlab::InitializerSpec::constant(1.0)));
    }

    void forward(const MatrixType& x, MatrixType& y) override {
        y.resize(x.rows(), x.cols());
        y.array() = x.array() * sigmoid(x);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        const Scalar beta = currentBeta();
        const auto s = sigmoid(x);
        if (dx != nullptr) {
            dx->resize(x.rows(), x.cols());
            dx->array() = dy.array() * (s + beta * x.array() * s * (Scalar(1) - s));
        }
        beta_->grad(0, 0) += (dy.array() * x.array().square() * s * (Scalar(1) - s)).sum();
    }

    void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) override {
        const Scalar beta = currentBeta();
        const auto s = sigmoid(x);
        d.resize(x.rows(), x.cols());
        d.array() = s + beta * x.array() * s * (Scalar(1) - s);
    }

    double value(double x) const override { return x * scalarSigmoid(x); }

    double slope(double x) const override {
        const double s = scalarSigmoid(x);
        return s + static_cast<double>(currentBeta()) * x * s * (1.0 - s);
    }

private:
    Scalar currentBeta() const {
        if (beta_ == nullptr) throw gradlab::Error("swish used before build()");
        return beta_->value(0, 0);
    }

    /// sigmoid(beta x) element-wise, evaluated into an array (it is used several times).
    Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic> sigmoid(const MatrixType& x) const {
        const Scalar beta = currentBeta();
        return (Scalar(1) + (-beta * x.array()).exp()).inverse();
    }

    double scalarSigmoid(double x) const { return 1.0 / (1.0 + std::exp(-static_cast<double>(currentBeta()) * x)); }

    gradlab::Parameter<Scalar>* beta_ = nullptr;
};

}  // namespace

GRADLAB_PLUGIN("example_swish", "1.0.0", registry) {
    registry.addActivation<Swish>("swish", "x sigmoid(beta x) with a learnable beta, parameter 'beta' [1 x 1] "
                                           "starting at 1 (Ramachandran et al. 2017)");
}
