#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

template <typename Scalar = double>
std::shared_ptr<gradlab::Activation<Scalar>> makeActivation(const std::string& yaml, gradlab::Index units = 1) {
    auto activation = builtinPlugins().makeActivation<Scalar>(spec(PluginKind::activation, yaml));
    activation->build(units);
    return activation;
}

/// Forward over a row of values, in the plugin's batched path (not value()).
template <typename Scalar>
Matrix<Scalar> forwardRow(gradlab::Activation<Scalar>& activation, std::initializer_list<double> values) {
    Matrix<Scalar> x(1, static_cast<gradlab::Index>(values.size())), y;
    gradlab::Index j = 0;
    for (double value : values) x(0, j++) = static_cast<Scalar>(value);
    activation.forward(x, y);
    return y;
}

}  // namespace

GRADLAB_ACTIVATION_CONFORMANCE("sigmoid")
GRADLAB_ACTIVATION_CONFORMANCE("tanh")
GRADLAB_ACTIVATION_CONFORMANCE("softplus")
GRADLAB_ACTIVATION_CONFORMANCE("{kind: softplus, beta: 3}")

TEST_CASE("sigmoid: known values, derivative y (1 - y), saturation without NaN", "[plugins][activations]") {
    auto sigmoid = makeActivation("sigmoid");
    CHECK(sigmoid->value(0.0) == 0.5);
    CHECK(sigmoid->slope(0.0) == 0.25);
    CHECK(sigmoid->value(2.0) == Approx(1.0 / (1.0 + std::exp(-2.0))).epsilon(1e-15));
    CHECK(sigmoid->slope(-1.5) == Approx(std::exp(-1.5) / std::pow(1.0 + std::exp(-1.5), 2)).epsilon(1e-14));

    SECTION("float64") {
        const Matrix<double> y = forwardRow(*sigmoid, {-1000.0, 1000.0});
        CHECK(y(0, 0) == 0.0);
        CHECK(y(0, 1) == 1.0);
    }
    SECTION("float32") {
        const Matrix<float> y = forwardRow(*makeActivation<float>("sigmoid"), {-200.0, 200.0});
        CHECK(y(0, 0) == 0.0f);
        CHECK(y(0, 1) == 1.0f);
    }
}

TEST_CASE("tanh: known values, derivative 1 - y^2", "[plugins][activations]") {
    auto tanh = makeActivation("tanh");
    const double x = GENERATE(-3.0, -0.5, 0.0, 0.25, 2.0);
    CHECK(tanh->value(x) == Approx(std::tanh(x)).epsilon(1e-15).margin(1e-300));
    CHECK(tanh->slope(x) == Approx(1.0 - std::tanh(x) * std::tanh(x)).epsilon(1e-14));
    CHECK(tanh->slope(0.0) == 1.0);
}

TEST_CASE("softplus: (1/beta) log(1 + e^(beta x)), stable for large |x|", "[plugins][activations]") {
    SECTION("beta = 1: softplus(0) = ln 2, slope sigmoid(x)") {
        auto softplus = makeActivation("softplus");
        CHECK(softplus->value(0.0) == Approx(std::log(2.0)).epsilon(1e-15));
        CHECK(softplus->slope(0.0) == 0.5);
        CHECK(softplus->value(1.0) == Approx(std::log1p(std::exp(1.0))).epsilon(1e-15));
        CHECK(softplus->slope(1.0) == Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-15));
    }
    SECTION("beta = 2") {
        auto softplus = makeActivation("{kind: softplus, beta: 2}");
        CHECK(softplus->value(0.0) == Approx(std::log(2.0) / 2.0).epsilon(1e-15));
        CHECK(softplus->value(0.5) == Approx(std::log1p(std::exp(1.0)) / 2.0).epsilon(1e-15));
        CHECK(softplus->slope(0.5) == Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-15));
    }
    SECTION("large |x| in float64 and float32: no overflow, tiny values kept") {
        const Matrix<double> y = forwardRow(*makeActivation("softplus"), {1000.0, -1000.0, -30.0});
        CHECK(y(0, 0) == 1000.0);
        CHECK(y(0, 1) == 0.0);
        CHECK(y(0, 2) == Approx(std::exp(-30.0)).epsilon(1e-12));
        const Matrix<float> y32 = forwardRow(*makeActivation<float>("softplus"), {100.0, -100.0});
        CHECK(y32(0, 0) == 100.0f);
        CHECK(std::isfinite(y32(0, 1)));
        CHECK(y32(0, 1) >= 0.0f);
    }
    SECTION("beta must be > 0") {
        CHECK_THROWS_WITH(spec(PluginKind::activation, "{kind: softplus, beta: 0}"), Catch::Contains("beta"));
    }
}
