#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

std::shared_ptr<gradlab::Activation<double>> makeActivation(const std::string& yaml, gradlab::Index units = 1) {
    auto activation = builtinPlugins().makeActivation<double>(spec(PluginKind::activation, yaml));
    activation->build(units);
    return activation;
}

constexpr double seluLambda = 1.0507009873554804934193349852946;
constexpr double seluAlpha = 1.6732632423543772848170429916717;

/// One expected f(x) and f'(x).
struct KnownValue {
    std::string yaml;
    double x;
    double value;
    double slope;
};

}  // namespace

GRADLAB_ACTIVATION_CONFORMANCE("relu")
GRADLAB_ACTIVATION_CONFORMANCE("leaky_relu")
GRADLAB_ACTIVATION_CONFORMANCE("{kind: leaky_relu, alpha: 0.2}")
GRADLAB_ACTIVATION_CONFORMANCE("prelu")
GRADLAB_ACTIVATION_CONFORMANCE("{kind: prelu, per_unit: true}")
GRADLAB_ACTIVATION_CONFORMANCE("elu")
GRADLAB_ACTIVATION_CONFORMANCE("{kind: elu, alpha: 0.5}")
GRADLAB_ACTIVATION_CONFORMANCE("selu")
GRADLAB_ACTIVATION_CONFORMANCE("gelu")
GRADLAB_ACTIVATION_CONFORMANCE("{kind: gelu, approximate: tanh}")

TEST_CASE("relu family: known values, and derivatives at the kink x = 0", "[plugins][activations]") {
    const double e1 = std::exp(-1.0);
    const double geluTanhU = std::sqrt(2.0 / M_PI) * (1.0 + 0.044715);
    auto known = GENERATE_COPY(values<KnownValue>({
        {"relu", 3.0, 3.0, 1.0},
        {"relu", -2.0, 0.0, 0.0},
        {"relu", 0.0, 0.0, 0.0},  // relu'(0) = 0
        {"leaky_relu", -2.0, -0.02, 0.01},
        {"leaky_relu", 0.0, 0.0, 0.01},  // leaky'(0) = alpha
        {"{kind: leaky_relu, alpha: 0.3}", -1.0, -0.3, 0.3},
        {"{kind: leaky_relu, alpha: 0.3}", 2.0, 2.0, 1.0},
        {"elu", -1.0, e1 - 1.0, e1},
        {"{kind: elu, alpha: 0.5}", -1.0, 0.5 * (e1 - 1.0), 0.5 * e1},
        {"{kind: elu, alpha: 0.5}", 0.0, 0.0, 0.5},  // elu'(0) = alpha
        {"{kind: elu, alpha: 0.5}", 2.0, 2.0, 1.0},
        {"selu", 1.0, 1.0507009873554805, seluLambda},
        {"selu", -1.0, seluLambda * seluAlpha * (e1 - 1.0), seluLambda * seluAlpha * e1},
        {"selu", 0.0, 0.0, seluLambda * seluAlpha},
        {"gelu", 1.0, 0.8413447460685429, 0.8413447460685429 + std::exp(-0.5) / std::sqrt(2.0 * M_PI)},
        {"gelu", -1.0, -0.15865525393145707, 0.15865525393145707 - std::exp(-0.5) / std::sqrt(2.0 * M_PI)},
        {"gelu", 0.0, 0.0, 0.5},
        {"{kind: gelu, approximate: tanh}", 1.0, 0.5 * (1.0 + std::tanh(geluTanhU)),
         0.5 * (1.0 + std::tanh(geluTanhU)) + 0.5 * (1.0 - std::pow(std::tanh(geluTanhU), 2)) *
                                                   std::sqrt(2.0 / M_PI) * (1.0 + 3.0 * 0.044715)},
        {"prelu", -2.0, -0.5, 0.25},  // at its default slope 0.25
        {"prelu", 0.0, 0.0, 0.25},
    }));
    INFO(known.yaml << " at x = " << known.x);
    auto activation = makeActivation(known.yaml);
    if (!activation->ownParameters().empty())
        activation->param("slope").value.setConstant(0.25);  // what the declared initializer would set
    CHECK(activation->value(known.x) == Approx(known.value).epsilon(1e-14).margin(1e-15));
    CHECK(activation->slope(known.x) == Approx(known.slope).epsilon(1e-14).margin(1e-15));

    // The batched path agrees with the scalar one, also at the kink.
    Matrix<double> x = Matrix<double>::Constant(1, 1, known.x), y, d;
    activation->forward(x, y);
    activation->derivative(x, y, d);
    CHECK(y(0, 0) == Approx(known.value).epsilon(1e-14).margin(1e-15));
    CHECK(d(0, 0) == Approx(known.slope).epsilon(1e-14).margin(1e-15));
}

TEST_CASE("gelu tanh approximation stays within 1e-3 of the exact gelu", "[plugins][activations]") {
    auto exact = makeActivation("gelu");
    auto approximate = makeActivation("{kind: gelu, approximate: tanh}");
    for (double x = -5.0; x <= 5.0; x += 0.25) {
        CAPTURE(x);
        CHECK(std::abs(exact->value(x) - approximate->value(x)) < 1e-3);
    }
    CHECK_THROWS_WITH(spec(PluginKind::activation, "{kind: gelu, approximate: erf}"), Catch::Contains("approximate"));
}

TEST_CASE("leaky_relu and elu reject a negative alpha", "[plugins][activations]") {
    const std::string name = GENERATE(as<std::string>{}, "leaky_relu", "elu");
    CHECK_THROWS_WITH(spec(PluginKind::activation, "{kind: " + name + ", alpha: -0.1}"), Catch::Contains("alpha"));
}

TEST_CASE("prelu: the learnable slope, its shape, default initializer and gradient", "[plugins][activations]") {
    SECTION("shared slope: [1 x 1], starts as constant 0.25, not a weight") {
        auto prelu = makeActivation("prelu", 3);
        auto& slope = prelu->param("slope");
        CHECK(slope.value.rows() == 1);
        CHECK(slope.value.cols() == 1);
        CHECK(slope.init.initializer == gradlab::InitializerSpec::constant(0.25));
        CHECK_FALSE(slope.init.isWeight);
        CHECK_NOTHROW(gradlab::testing::initializerSpec(slope.init.initializer));
    }
    SECTION("per-unit slope: [units x 1]") {
        auto prelu = makeActivation("{kind: prelu, per_unit: true}", 3);
        CHECK(prelu->param("slope").value.rows() == 3);
        CHECK(prelu->param("slope").value.cols() == 1);
    }

    // x = [[-2, 3], [1, -0.5]], dy = [[1, 2], [3, 4]]: dL/da = sum dy min(x, 0).
    Matrix<double> x(2, 2), dy(2, 2), y, dx;
    x << -2.0, 3.0, 1.0, -0.5;
    dy << 1.0, 2.0, 3.0, 4.0;
    SECTION("shared slope: gradient sums over units and batch") {
        auto prelu = makeActivation("prelu", 2);
        auto& slope = prelu->param("slope");
        slope.value(0, 0) = 0.1;
        prelu->forward(x, y);
        CHECK(y(0, 0) == Approx(-0.2));
        CHECK(y(1, 1) == Approx(-0.05));
        CHECK(y(0, 1) == 3.0);
        prelu->backward(x, y, dy, &dx);
        CHECK(slope.grad(0, 0) == Approx(1.0 * -2.0 + 4.0 * -0.5));
        CHECK(dx(0, 0) == Approx(0.1));
        CHECK(dx(0, 1) == 2.0);
        CHECK(dx(1, 0) == 3.0);
        CHECK(dx(1, 1) == Approx(0.4));
    }
    SECTION("per-unit slope: gradient per unit, summed over the batch") {
        auto prelu = makeActivation("{kind: prelu, per_unit: true}", 2);
        auto& slope = prelu->param("slope");
        slope.value << 0.1, 0.2;
        prelu->forward(x, y);
        CHECK(y(0, 0) == Approx(-0.2));
        CHECK(y(1, 1) == Approx(-0.1));
        prelu->backward(x, y, dy, &dx);
        CHECK(slope.grad(0, 0) == Approx(-2.0));
        CHECK(slope.grad(1, 0) == Approx(-2.0));
        CHECK(dx(1, 1) == Approx(0.8));
    }
    SECTION("per-unit slope refuses an input with another number of units") {
        auto prelu = makeActivation("{kind: prelu, per_unit: true}", 3);
        CHECK_THROWS_WITH(prelu->forward(x, y), Catch::Contains("3 units") && Catch::Contains("2 rows"));
    }
}
