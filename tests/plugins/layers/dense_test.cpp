#include <catch2/catch.hpp>

#include <cmath>
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

namespace {

std::shared_ptr<gradlab::Layer<double>> makeLayer(const std::string& yaml) {
    return builtinPlugins().makeLayer<double>(spec(PluginKind::layer, yaml));
}

std::vector<std::string> parameterNames(gradlab::Layer<double>& layer) {
    std::vector<gradlab::NamedParameter<double>> parameters;
    layer.collectParameters("", parameters);
    std::vector<std::string> names;
    for (const auto& parameter : parameters) names.push_back(parameter.name);
    return names;
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 5}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 5, bias: false}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 3, activation: tanh}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 3, bias: false, activation: relu}", Shape{2})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 3, activation: {kind: prelu, per_unit: true}}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 2, activation: sigmoid}", Shape{3, 2})
GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 1}", Shape{1})

TEST_CASE("dense: parameters, names, shapes and default initializers", "[plugins][layers]") {
    SECTION("with bias") {
        auto dense = makeLayer("{kind: dense, units: 3}");
        const Shape output = dense->build(Shape{2, 5});
        CHECK(output == Shape{3, 5});
        CHECK(parameterNames(*dense) == std::vector<std::string>{"W", "b"});
        const auto& weight = dense->param("W");
        CHECK(weight.value.rows() == 3);
        CHECK(weight.value.cols() == 2);
        CHECK(weight.init.initializer == "glorot_uniform");
        CHECK(weight.init.fanIn == 2);
        CHECK(weight.init.fanOut == 3);
        CHECK(weight.init.isWeight);
        const auto& bias = dense->param("b");
        CHECK(bias.value.rows() == 3);
        CHECK(bias.value.cols() == 1);
        CHECK(bias.init.initializer == "zeros");
        CHECK_FALSE(bias.init.isWeight);
    }
    SECTION("without bias") {
        auto dense = makeLayer("{kind: dense, units: 3, bias: false}");
        dense->build(Shape{2});
        CHECK(parameterNames(*dense) == std::vector<std::string>{"W"});
    }
    SECTION("a learnable activation is a child named 'activation'") {
        auto dense = makeLayer("{kind: dense, units: 3, activation: {kind: prelu, per_unit: true}}");
        dense->build(Shape{2});
        CHECK(parameterNames(*dense) == std::vector<std::string>{"W", "b", "activation.slope"});
        std::vector<gradlab::NamedParameter<double>> parameters;
        dense->collectParameters("layers.0.dense.", parameters);
        CHECK(parameters.back().name == "layers.0.dense.activation.slope");
        CHECK(parameters.back().parameter->value.rows() == 3);
    }
}

TEST_CASE("dense: known values for a hand-set W and b", "[plugins][layers]") {
    // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1, 0], x = [[1, 2], [1, -1]] (two samples).
    const std::string activation = GENERATE(as<std::string>{}, "identity", "relu");
    auto dense = makeLayer("{kind: dense, units: 3, activation: " + activation + "}");
    dense->build(Shape{2});
    dense->param("W").value << 1, 2, 3, 4, 5, 6;
    dense->param("b").value << 0.5, -1, 0;
    Matrix<double> x(2, 2), y, dx;
    x << 1, 2, 1, -1;
    dense->forward(x, y, gradlab::Phase::train);
    Matrix<double> expected(3, 2);
    expected << 3.5, 0.5, 6, 1, 11, 4;  // z = W x + b, all positive: relu leaves it alone
    CHECK(y.isApprox(expected));

    // dy = ones: dW = dy x^T = each row [3, 0], db = [2, 2, 2], dx = W^T dy = [[9, 9], [12, 12]].
    dense->backward(x, y, Matrix<double>::Ones(3, 2), &dx);
    Matrix<double> expectedWeightGrad(3, 2), expectedInputGrad(2, 2);
    expectedWeightGrad << 3, 0, 3, 0, 3, 0;
    expectedInputGrad << 9, 9, 12, 12;
    CHECK(dense->param("W").grad.isApprox(expectedWeightGrad));
    CHECK(dense->param("b").grad.isApprox(Matrix<double>::Constant(3, 1, 2.0)));
    CHECK(dx.isApprox(expectedInputGrad));

    SECTION("a null dx still accumulates the parameter gradients") {
        dense->forward(x, y, gradlab::Phase::train);
        dense->backward(x, y, Matrix<double>::Ones(3, 2), nullptr);
        CHECK(dense->param("W").grad.isApprox(2.0 * expectedWeightGrad));
        CHECK(dense->param("b").grad.isApprox(Matrix<double>::Constant(3, 1, 4.0)));
    }
}

TEST_CASE("dense: a tanh activation is applied to W x + b", "[plugins][layers]") {
    auto dense = makeLayer("{kind: dense, units: 1, activation: tanh}");
    dense->build(Shape{2});
    dense->param("W").value << 0.5, -0.25;
    dense->param("b").value << 0.1;
    Matrix<double> x(2, 1), y;
    x << 1.0, 2.0;
    dense->forward(x, y, gradlab::Phase::train);
    CHECK(y(0, 0) == Approx(std::tanh(0.5 - 0.5 + 0.1)));
}

TEST_CASE("dense: bad options and inputs are refused with clear messages", "[plugins][layers]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: dense, units: 0}"), Catch::Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: dense}"), Catch::Contains("units"));
    auto dense = makeLayer("{kind: dense, units: 2}");
    dense->build(Shape{3});
    Matrix<double> x = Matrix<double>::Ones(4, 2), y;
    CHECK_THROWS_WITH(dense->forward(x, y, gradlab::Phase::train),
                      Catch::Contains("3 input features") && Catch::Contains("4 rows"));
}
