/// @file relu_family.cpp
/// The rectifier family: relu, leaky_relu, prelu (learnable slope), elu, selu, gelu.
///
/// Derivatives at the kink x = 0 are taken from the left-hand piece's closed form for x <= 0, consistently:
/// relu'(0) = 0, leaky_relu'(0) = alpha, prelu'(0) = slope, elu'(0) = alpha, selu'(0) = lambda alpha
/// (the same convention as PyTorch's autograd).
///
/// A function object with options reads them in its `const Options&` constructor (ElementwiseActivation builds
/// it from the plugin's options), so no subclass is needed.

#include <cmath>
#include <memory>
#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// Rectified linear unit (Nair & Hinton 2010), f(x) = max(x, 0), f'(x) = [x > 0] (so f'(0) = 0).
struct ReluFunction {
    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return x.max(S(0));
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        // select() is vectorised; (x > 0).cast<S>() goes through bool one element at a time (10x slower).
        return (x > S(0)).select(X::Constant(x.rows(), x.cols(), S(1)), S(0));
    }
};

/// Leaky relu (Maas et al. 2013), f(x) = x for x > 0 else alpha x; f'(x) = 1 for x > 0 else alpha
/// (so f'(0) = alpha).
class LeakyReluFunction {
public:
    /// Reads `alpha`.
    explicit LeakyReluFunction(const gradlab::Options& options) : alpha_(options.real("alpha")) {}

    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(x, x * S(alpha_));
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(X::Constant(x.rows(), x.cols(), S(1)), S(alpha_));
    }

private:
    double alpha_ = 0.01;
};

/// Exponential linear unit (Clevert et al. 2016), f(x) = x for x > 0 else alpha (e^x - 1);
/// f'(x) = 1 for x > 0 else alpha e^x = f(x) + alpha (so f'(0) = alpha).
class EluFunction {
public:
    /// Reads `alpha`.
    explicit EluFunction(const gradlab::Options& options) : alpha_(options.real("alpha")) {}

    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(x, x.min(S(0)).expm1() * S(alpha_));
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(X::Constant(x.rows(), x.cols(), S(1)), y + S(alpha_));
    }

private:
    double alpha_ = 1.0;
};

/// Scaled elu (Klambauer et al. 2017, "Self-Normalizing Neural Networks"),
/// f(x) = lambda x for x > 0 else lambda alpha (e^x - 1); f'(x) = lambda for x > 0 else f(x) + lambda alpha.
/// The constants make N(0, 1) a fixed point of the layer-to-layer mean and variance map.
struct SeluFunction {
    static constexpr double seluLambda = 1.0507009873554804934193349852946;
    static constexpr double seluAlpha = 1.6732632423543772848170429916717;

    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(x * S(seluLambda), x.min(S(0)).expm1() * S(seluLambda * seluAlpha));
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        return (x > S(0)).select(X::Constant(x.rows(), x.cols(), S(seluLambda)), y + S(seluLambda * seluAlpha));
    }
};

/// Exact gelu (Hendrycks & Gimpel 2016), f(x) = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2;
/// f'(x) = Phi(x) + x phi(x), phi(x) = e^{-x^2/2} / sqrt(2 pi).
struct GeluExactFunction {
    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        return x * (S(0.5) + S(0.5) * x.unaryExpr([](S v) { return S(std::erf(v * S(M_SQRT1_2))); }));
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        const S inverseSqrtTwoPi = S(0.5 * M_2_SQRTPI * M_SQRT1_2);
        return S(0.5) + S(0.5) * x.unaryExpr([](S v) { return S(std::erf(v * S(M_SQRT1_2))); }) +
               x * (x.square() * S(-0.5)).exp() * inverseSqrtTwoPi;
    }
};

/// Tanh approximation of gelu (Hendrycks & Gimpel 2016), f(x) = x (1 + tanh(u)) / 2 with
/// u = sqrt(2/pi) (x + 0.044715 x^3); f'(x) = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2.
struct GeluTanhFunction {
    static constexpr double cubic = 0.044715;

    template <class X>
    auto value(const X& x) const {
        using S = typename X::Scalar;
        const S sqrtTwoOverPi = S(M_2_SQRTPI * M_SQRT1_2);
        return S(0.5) * x * (S(1) + ((x + S(cubic) * x.cube()) * sqrtTwoOverPi).tanh());
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        const S sqrtTwoOverPi = S(M_2_SQRTPI * M_SQRT1_2);
        const auto t = ((x + S(cubic) * x.cube()) * sqrtTwoOverPi).tanh();
        return S(0.5) * (S(1) + t) +
               S(0.5) * x * (S(1) - t.square()) * sqrtTwoOverPi * (S(1) + S(3 * cubic) * x.square());
    }
};

/// The relu activation plugin.
template <typename Scalar>
using Relu = gradlab::ElementwiseActivation<Scalar, ReluFunction>;

/// The leaky_relu activation plugin; option `alpha` (>= 0).
template <typename Scalar>
using LeakyRelu = gradlab::ElementwiseActivation<Scalar, LeakyReluFunction>;

/// The elu activation plugin; option `alpha` (>= 0).
template <typename Scalar>
using Elu = gradlab::ElementwiseActivation<Scalar, EluFunction>;

/// The selu activation plugin (fixed constants, no options).
template <typename Scalar>
using Selu = gradlab::ElementwiseActivation<Scalar, SeluFunction>;

/// The gelu activation plugin: exact (erf) or tanh-approximated, by option `approximate` (none | tanh).
template <typename Scalar>
class Gelu : public gradlab::Activation<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `approximate` and picks the implementation.
    explicit Gelu(const gradlab::Options& options) {
        const std::string& approximate = options.string("approximate");
        if (approximate == "none")
            implementation_ = std::make_unique<gradlab::ElementwiseActivation<Scalar, GeluExactFunction>>(options);
        else if (approximate == "tanh")
            implementation_ = std::make_unique<gradlab::ElementwiseActivation<Scalar, GeluTanhFunction>>(options);
        else
            throw gradlab::Error("option 'approximate' must be 'none' or 'tanh', got '" + approximate + "'");
    }

    void forward(const MatrixType& x, MatrixType& y) override { implementation_->forward(x, y); }
    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        implementation_->backward(x, y, dy, dx);
    }
    void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) override {
        implementation_->derivative(x, y, d);
    }
    void unitMaxSlope(const MatrixType& x, const MatrixType& y, MatrixType& scratch,
                      std::vector<double>& out) override {
        implementation_->unitMaxSlope(x, y, scratch, out);
    }
    double value(double x) const override { return implementation_->value(x); }
    double slope(double x) const override { return implementation_->slope(x); }

private:
    std::unique_ptr<gradlab::Activation<Scalar>> implementation_;
};

/// Parametric relu (He et al. 2015, "Delving Deep into Rectifiers"), f(x) = x for x > 0 else a x, with a
/// learnable slope a: one scalar shared by all units ([1 x 1], default) or one per unit ([units x 1],
/// `per_unit: true`). f'(x) = 1 for x > 0 else a (so f'(0) = a); dL/da = sum over the batch of dy min(x, 0).
/// The slope starts at 0.25 (the paper's value) and is not a weight (not regularised by default).
template <typename Scalar>
class Prelu : public gradlab::Activation<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `per_unit`.
    explicit Prelu(const gradlab::Options& options) : perUnit_(options.boolean("per_unit")) {}

    /// Declares `slope`, [1 x 1] or [units x 1].
    void build(gradlab::Index units) override {
        if (units < 1) throw gradlab::Error("prelu needs at least one unit, got " + std::to_string(units));
        slope_ = &this->addParameter("slope", perUnit_ ? units : 1, 1,
                                     gradlab::ParameterInit::bias(1, 1, gradlab::InitializerSpec::constant(0.25)));
    }

    void forward(const MatrixType& x, MatrixType& y) override {
        check(x);
        if (perUnit_)
            y.array() = x.array().max(Scalar(0)) + x.array().min(Scalar(0)).colwise() * slope_->value.col(0).array();
        else
            y.array() = x.array().max(Scalar(0)) + x.array().min(Scalar(0)) * slope_->value(0, 0);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        check(x);
        if (dx != nullptr) {
            derivative(x, y, *dx);
            dx->array() *= dy.array();
        }
        if (perUnit_)
            slope_->grad.col(0).array() += (dy.array() * x.array().min(Scalar(0))).rowwise().sum();
        else
            slope_->grad(0, 0) += (dy.array() * x.array().min(Scalar(0))).sum();
    }

    void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) override {
        check(x);
        d.resize(x.rows(), x.cols());
        if (perUnit_)
            d.array() = (x.array() > Scalar(0))
                            .select(MatrixType::Ones(x.rows(), x.cols()).array(),
                                    slope_->value.col(0).array().replicate(1, x.cols()));
        else
            d.array() = (x.array() > Scalar(0))
                            .select(Scalar(1), MatrixType::Constant(x.rows(), x.cols(), slope_->value(0, 0)).array());
    }

    double value(double x) const override { return x > 0 ? x : firstSlope() * x; }
    double slope(double x) const override { return x > 0 ? 1.0 : firstSlope(); }

private:
    /// Throws unless build() ran and x has as many rows as there are per-unit slopes.
    void check(const MatrixType& x) const {
        if (slope_ == nullptr) throw gradlab::Error("prelu used before build()");
        if (perUnit_ && x.rows() != slope_->value.rows())
            throw gradlab::Error("prelu built for " + std::to_string(slope_->value.rows()) + " units, got input with " +
                                 std::to_string(x.rows()) + " rows");
    }

    double firstSlope() const {
        if (slope_ == nullptr) throw gradlab::Error("prelu used before build()");
        return static_cast<double>(slope_->value(0, 0));
    }

    bool perUnit_ = false;
    gradlab::Parameter<Scalar>* slope_ = nullptr;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_activations_relu_family", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry.addActivation<Relu>("relu", "max(x, 0) (Nair & Hinton 2010); relu'(0) = 0");
    registry.addActivation<LeakyRelu>("leaky_relu", "x for x > 0 else alpha x (Maas et al. 2013); f'(0) = alpha")
        .option(OptionSpec::real("alpha", 0.01, "slope for x <= 0").min(0.0));
    registry
        .addActivation<Prelu>("prelu", "x for x > 0 else a x with a learnable slope a, parameter 'slope' "
                                       "(He et al. 2015); starts at 0.25")
        .option(OptionSpec::boolean("per_unit", false, "one slope per unit ([units x 1]) instead of one shared"));
    registry.addActivation<Elu>("elu", "x for x > 0 else alpha (e^x - 1) (Clevert et al. 2016)")
        .option(OptionSpec::real("alpha", 1.0, "value approached for x -> -inf is -alpha").min(0.0));
    registry.addActivation<Selu>("selu", "lambda elu_alpha(x), lambda = 1.0507..., alpha = 1.6733... "
                                         "(Klambauer et al. 2017, self-normalizing)");
    registry.addActivation<Gelu>("gelu", "x Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel 2016)")
        .option(OptionSpec::choice("approximate", "none", {"none", "tanh"},
                                   "none: exact with erf; tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"));
}
