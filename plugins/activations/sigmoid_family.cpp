/// @file sigmoid_family.cpp
/// The saturating logistic family: sigmoid, tanh, and softplus (the integral of the sigmoid).
/// These are the activations whose derivatives (at most 1/4 for the sigmoid, 1 for tanh) make deep stacks
/// vanish (Glorot & Bengio 2010).
///
/// A function object with options reads them in its `const Options&` constructor (ElementwiseActivation builds
/// it from the plugin's options), so no subclass is needed.

#include "gradlab/sdk.hpp"

namespace {

/// Logistic sigmoid, f(x) = 1 / (1 + e^{-x}), f'(x) = f(x) (1 - f(x)).
/// Stable for large |x|: e^{-x} overflows to +inf for x << 0 and f correctly becomes 0, never NaN.
struct SigmoidFunction {
    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return S(1) / (S(1) + (-x).exp());
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename Y::Scalar;
        return y * (S(1) - y);
    }
};

/// Hyperbolic tangent, f(x) = tanh(x), f'(x) = 1 - f(x)^2.
struct TanhFunction {
    template <class X>
    auto value(const X& x) const {
        return x.tanh();
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename Y::Scalar;
        return S(1) - y.square();
    }
};

/// Softplus (Dugas et al. 2001), f(x) = (1/beta) log(1 + e^{beta x}), f'(x) = sigmoid(beta x).
/// Evaluated as (max(beta x, 0) + log1p(e^{-|beta x|})) / beta, which neither overflows for large beta x nor
/// loses the small values for very negative beta x.
class SoftplusFunction {
public:
    /// Reads `beta`.
    explicit SoftplusFunction(const gradlab::Options& options) : beta_(options.real("beta")) {}

    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        const auto scaled = x * S(beta_);
        return (scaled.max(S(0)) + (-scaled.abs()).exp().log1p()) * S(1.0 / beta_);
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        return S(1) / (S(1) + (x * S(-beta_)).exp());
    }

private:
    double beta_ = 1.0;
};

/// The sigmoid activation plugin.
template <typename Scalar>
using Sigmoid = gradlab::ElementwiseActivation<Scalar, SigmoidFunction>;

/// The tanh activation plugin.
template <typename Scalar>
using Tanh = gradlab::ElementwiseActivation<Scalar, TanhFunction>;

/// The softplus activation plugin; option `beta` (> 0).
template <typename Scalar>
using Softplus = gradlab::ElementwiseActivation<Scalar, SoftplusFunction>;

}  // namespace

GRADLAB_PLUGIN("gradlab_activations_sigmoid_family", "1.0.0", registry) {
    registry.addActivation<Sigmoid>("sigmoid", "logistic sigmoid 1 / (1 + e^-x); f' = f (1 - f) <= 1/4");
    registry.addActivation<Tanh>("tanh", "hyperbolic tangent; f' = 1 - f^2 <= 1");
    registry.addActivation<Softplus>("softplus", "(1/beta) log(1 + e^(beta x)), a smooth relu; f' = sigmoid(beta x)")
        .option(gradlab::OptionSpec::real("beta", 1.0, "sharpness: larger beta is closer to relu").above(0.0));
}
