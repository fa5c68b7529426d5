#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::Phase;
using gradlab::PluginKind;
using gradlab::Shape;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

std::shared_ptr<gradlab::Layer<double>> makeLayer(const std::string& yaml) {
    return builtinPlugins().makeLayer<double>(spec(PluginKind::layer, yaml));
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("{kind: maxout, units: 3}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: maxout, units: 2, pieces: 4, bias: false}", Shape{3})
GRADLAB_LAYER_CONFORMANCE("{kind: maxout, units: 1, pieces: 3}", Shape{2, 3})

TEST_CASE("maxout: parameters, shapes and default initializers", "[plugins][layers]") {
    auto layer = makeLayer("{kind: maxout, units: 3, pieces: 4}");
    CHECK(layer->build(Shape{5, 2}) == Shape{3, 2});
    std::vector<gradlab::NamedParameter<double>> parameters;
    layer->collectParameters("", parameters);
    REQUIRE(parameters.size() == 2);
    CHECK(parameters[0].name == "W");
    CHECK(parameters[1].name == "b");
    const auto& weight = layer->param("W");
    CHECK(weight.value.rows() == 12);
    CHECK(weight.value.cols() == 5);
    CHECK(weight.init.initializer == "glorot_uniform");
    CHECK(weight.init.fanIn == 5);
    CHECK(weight.init.fanOut == 3);
    CHECK(weight.init.isWeight);
    const auto& bias = layer->param("b");
    CHECK(bias.value.rows() == 12);
    CHECK(bias.value.cols() == 1);
    CHECK(bias.init.initializer == "zeros");
    CHECK_FALSE(bias.init.isWeight);

    auto noBias = makeLayer("{kind: maxout, units: 2, bias: false}");
    noBias->build(Shape{3});
    parameters.clear();
    noBias->collectParameters("", parameters);
    REQUIRE(parameters.size() == 1);
    CHECK(parameters[0].parameter->value.rows() == 4);  // default pieces: 2
}

TEST_CASE("maxout: picks the max piece, row k * units + j is piece k of unit j", "[plugins][layers]") {
    // units 2, pieces 3, inputs 2. Rows: 0 = (k0, j0) x0, 1 = (k0, j1) x1, 2 = (k1, j0) -x0, 3 = (k1, j1) -x1,
    // 4 = (k2, j0) x0 + x1, 5 = (k2, j1) 0 + b = 0.25.
    auto layer = makeLayer("{kind: maxout, units: 2, pieces: 3}");
    layer->build(Shape{2});
    layer->param("W").value << 1, 0,  //
        0, 1,                         //
        -1, 0,                        //
        0, -1,                        //
        1, 1,                         //
        0, 0;
    layer->param("b").value << 0, 0, 0, 0, 0, 0.25;
    Matrix<double> x(2, 2), y, dx;
    x << 1, -1,  //
        2, 0.5;
    layer->forward(x, y, Phase::train);
    // Sample 0, x = (1, 2): unit 0 max(1, -1, 3) = 3 (piece 2); unit 1 max(2, -2, 0.25) = 2 (piece 0).
    // Sample 1, x = (-1, 0.5): unit 0 max(-1, 1, -0.5) = 1 (piece 1); unit 1 max(0.5, -0.5, 0.25) = 0.5 (piece 0).
    Matrix<double> expected(2, 2);
    expected << 3, 1,  //
        2, 0.5;
    CHECK(y == expected);

    // dy = [[1, 10], [100, 1000]] flows to rows 4 (col 0), 2 (col 1), 1 (both columns) only:
    //   dW row 1 = 100 (1, 2) + 1000 (-1, 0.5) = (-900, 700), row 2 = 10 (-1, 0.5), row 4 = (1, 2);
    //   db = [0, 1100, 10, 0, 1, 0]; dx col 0 = 100 W_1 + W_4 = (1, 101), col 1 = 1000 W_1 + 10 W_2 = (-10, 1000).
    Matrix<double> dy(2, 2);
    dy << 1, 10,  //
        100, 1000;
    layer->backward(x, y, dy, &dx);
    Matrix<double> expectedWeightGrad(6, 2), expectedBiasGrad(6, 1), expectedInputGrad(2, 2);
    expectedWeightGrad << 0, 0,  //
        -900, 700,               //
        -10, 5,                  //
        0, 0,                    //
        1, 2,                    //
        0, 0;
    expectedBiasGrad << 0, 1100, 10, 0, 1, 0;
    expectedInputGrad << 1, -10,  //
        101, 1000;
    CHECK(layer->param("W").grad == expectedWeightGrad);
    CHECK(layer->param("b").grad == expectedBiasGrad);
    CHECK(dx == expectedInputGrad);

    SECTION("parameter gradients accumulate and a null dx is allowed") {
        layer->forward(x, y, Phase::train);
        layer->backward(x, y, dy, nullptr);
        CHECK(layer->param("W").grad == 2.0 * expectedWeightGrad);
        CHECK(layer->param("b").grad == 2.0 * expectedBiasGrad);
    }
    SECTION("eval is the same map") {
        Matrix<double> evalOutput;
        layer->forward(x, evalOutput, Phase::eval);
        CHECK(evalOutput == expected);
    }
    SECTION("a tie goes to the lowest piece") {
        layer->param("W").value.setZero();
        layer->param("b").value.setZero();
        layer->forward(x, y, Phase::train);
        CHECK(y == Matrix<double>::Zero(2, 2));
        layer->param("W").grad.setZero();
        layer->param("b").grad.setZero();
        layer->backward(x, y, dy, &dx);
        Matrix<double> pieceZero = Matrix<double>::Zero(6, 1);
        pieceZero << 11, 1100, 0, 0, 0, 0;
        CHECK(layer->param("b").grad == pieceZero);
    }
}

TEST_CASE("maxout: bad options and inputs are refused with clear messages", "[plugins][layers]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: maxout}"), Catch::Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: maxout, units: 0}"), Catch::Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: maxout, units: 2, pieces: 1}"), Catch::Contains("pieces"));
    auto layer = makeLayer("{kind: maxout, units: 2}");
    layer->build(Shape{3});
    Matrix<double> y;
    CHECK_THROWS_WITH(layer->forward(Matrix<double>::Ones(4, 2), y, Phase::train),
                      Catch::Contains("3 input features") && Catch::Contains("4 rows"));
}
