#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::Shape;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

GRADLAB_LAYER_CONFORMANCE("{kind: activation, activation: tanh}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: activation, activation: {kind: prelu, per_unit: true}}", Shape{3, 2})
GRADLAB_LAYER_CONFORMANCE("{kind: activation, activation: {kind: elu, alpha: 0.7}}", Shape{5})
GRADLAB_LAYER_CONFORMANCE("relu", Shape{4})  // `- relu` where a layer is expected is an activation layer

TEST_CASE("activation layer: output shape is the input shape, values are f(x)", "[plugins][layers]") {
    auto layer = builtinPlugins().makeLayer<double>(spec(PluginKind::layer, "{kind: activation, activation: relu}"));
    CHECK(layer->build(Shape{3, 4}) == Shape{3, 4});
    Matrix<double> x(3, 2), y, dx;
    x << -1, 2, 3, -4, 0.5, 0;
    layer->forward(x, y, gradlab::Phase::train);
    Matrix<double> expected(3, 2);
    expected << 0, 2, 3, 0, 0.5, 0;
    CHECK(y == expected);
    layer->backward(x, y, Matrix<double>::Ones(3, 2), &dx);
    Matrix<double> expectedGrad(3, 2);
    expectedGrad << 0, 1, 1, 0, 1, 0;  // relu'(0) = 0
    CHECK(dx == expectedGrad);
}

TEST_CASE("activation layer: a learnable activation's parameters are 'activation.<name>'", "[plugins][layers]") {
    auto layer = builtinPlugins().makeLayer<double>(spec(PluginKind::layer, "{kind: activation, activation: prelu}"));
    layer->build(Shape{2});
    std::vector<gradlab::NamedParameter<double>> parameters;
    layer->collectParameters("layers.1.activation.", parameters);
    REQUIRE(parameters.size() == 1);
    CHECK(parameters[0].name == "layers.1.activation.activation.slope");

    SECTION("with a null dx the slope gradient is still accumulated") {
        auto& slope = *parameters[0].parameter;
        slope.value(0, 0) = 0.25;
        Matrix<double> x(2, 1), y;
        x << -2.0, 1.0;
        layer->forward(x, y, gradlab::Phase::train);
        layer->backward(x, y, Matrix<double>::Ones(2, 1), nullptr);
        CHECK(slope.grad(0, 0) == Approx(-2.0));
    }
}

TEST_CASE("activation layer: the activation option is required", "[plugins][layers]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: activation}"), Catch::Contains("activation"));
}
