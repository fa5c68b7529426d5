#include <catch2/catch.hpp>

#include <cmath>
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

GRADLAB_LAYER_CONFORMANCE("layernorm", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: layernorm, affine: false}", Shape{5})
GRADLAB_LAYER_CONFORMANCE("{kind: layernorm, epsilon: 0.1}", Shape{3, 2})
GRADLAB_LAYER_CONFORMANCE_PHASE("layernorm", eval, Shape{4})

TEST_CASE("layernorm: parameters and default initializers", "[plugins][layers]") {
    auto layer = makeLayer("layernorm");
    CHECK(layer->build(Shape{3, 4}) == Shape{3, 4});
    std::vector<gradlab::NamedParameter<double>> parameters;
    layer->collectParameters("", parameters);
    REQUIRE(parameters.size() == 2);
    CHECK(parameters[0].name == "gamma");
    CHECK(parameters[1].name == "beta");
    CHECK(layer->param("gamma").value.rows() == 3);
    CHECK(layer->param("gamma").init.initializer == gradlab::InitializerSpec::constant(1.0));
    CHECK_FALSE(layer->param("gamma").init.isWeight);
    CHECK(layer->param("beta").init.initializer == "zeros");
    std::vector<std::pair<std::string, gradlab::Buffer<double>*>> buffers;
    layer->collectBuffers("", buffers);
    CHECK(buffers.empty());

    auto plain = makeLayer("{kind: layernorm, affine: false}");
    plain->build(Shape{3});
    parameters.clear();
    plain->collectParameters("", parameters);
    CHECK(parameters.empty());
}

TEST_CASE("layernorm: each column is normalised over its features", "[plugins][layers]") {
    // Column 0 = [1, 2, 3, 4] (mean 2.5, biased variance 1.25), column 1 = [2, -2, 0, 4] (mean 1, variance 5),
    // column 2 constant 7 (variance 0).
    auto layer = makeLayer("{kind: layernorm, epsilon: 1e-5}");
    layer->build(Shape{4});
    layer->param("gamma").value.setOnes();
    Matrix<double> x(4, 3), y;
    x << 1, 2, 7,  //
        2, -2, 7,  //
        3, 0, 7,   //
        4, 4, 7;
    layer->forward(x, y, Phase::train);
    REQUIRE(y.rows() == 4);
    REQUIRE(y.cols() == 3);
    Matrix<double> expected(4, 3);
    expected << -1.5, 1, 0,  //
        -0.5, -3, 0,         //
        0.5, -1, 0,          //
        1.5, 3, 0;
    expected.col(0) /= std::sqrt(1.25 + 1e-5);
    expected.col(1) /= std::sqrt(5.0 + 1e-5);
    CHECK(y.isApprox(expected, 1e-14));
    for (int column = 0; column < 2; ++column) {
        CAPTURE(column);
        CHECK(y.col(column).mean() == Approx(0.0).margin(1e-15));
        CHECK(y.col(column).squaredNorm() / 4.0 == Approx(1.0).epsilon(1e-5));
    }

    SECTION("eval gives the same output") {
        Matrix<double> evalOutput;
        layer->forward(x, evalOutput, Phase::eval);
        CHECK(evalOutput == y);
    }
    SECTION("gamma and beta scale and shift each feature") {
        layer->param("gamma").value << 1, 2, 3, 4;
        layer->param("beta").value << 0.5, 0, 0, -1;
        layer->forward(x, y, Phase::train);
        Matrix<double> scaled = expected;
        for (int feature = 0; feature < 4; ++feature) scaled.row(feature) *= feature + 1.0;
        scaled.row(0).array() += 0.5;
        scaled.row(3).array() -= 1.0;
        CHECK(y.isApprox(scaled, 1e-14));
    }
    SECTION("dy equal over a column's features gives dx = 0 for that column") {
        Matrix<double> dy(4, 3), dx;
        dy.col(0).setConstant(2.0);
        dy.col(1).setConstant(-1.0);
        dy.col(2) << 1, 0, 0, 0;
        layer->backward(x, y, dy, &dx);
        CHECK(dx.leftCols(2).cwiseAbs().maxCoeff() < 1e-14);
        CHECK(dx.col(2).cwiseAbs().maxCoeff() > 1.0);  // a constant column: xhat = 0, dx = s (dy - mean(dy))
        CHECK(dx(0, 2) == Approx(0.75 / std::sqrt(1e-5)).epsilon(1e-12));
    }
}

TEST_CASE("layernorm: bad options and inputs are refused with clear messages", "[plugins][layers]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: layernorm, epsilon: -1}"), Catch::Contains("epsilon"));
    auto layer = makeLayer("layernorm");
    layer->build(Shape{3});
    Matrix<double> y;
    CHECK_THROWS_WITH(layer->forward(Matrix<double>::Ones(2, 2), y, Phase::train),
                      Catch::Contains("3 features") && Catch::Contains("2 rows"));
}
