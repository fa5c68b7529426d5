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

/// The hand batch A: feature 0 = [1, 2, 3, 4] (mean 2.5, biased variance 1.25, unbiased 5/3),
/// feature 1 = [2, -2, 0, 4] (mean 1, biased variance 5, unbiased 20/3).
Matrix<double> batchA() {
    Matrix<double> x(2, 4);
    x << 1, 2, 3, 4,  //
        2, -2, 0, 4;
    return x;
}

/// The hand batch B: feature 0 = [0, 0, 6, 2] (mean 2, biased variance 6, unbiased 8),
/// feature 1 = [1, 1, 1, 1] (mean 1, variance 0).
Matrix<double> batchB() {
    Matrix<double> x(2, 4);
    x << 0, 0, 6, 2,  //
        1, 1, 1, 1;
    return x;
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("batchnorm", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: batchnorm, affine: false}", Shape{3})
GRADLAB_LAYER_CONFORMANCE("{kind: batchnorm, momentum: 0.3, epsilon: 0.01}", Shape{3, 2})
GRADLAB_LAYER_CONFORMANCE_PHASE("batchnorm", eval, Shape{4})
GRADLAB_LAYER_CONFORMANCE_PHASE("{kind: batchnorm, affine: false}", eval, Shape{3})
GRADLAB_LAYER_CONFORMANCE_PHASE("{kind: batchnorm, momentum: 0.5}", eval, Shape{2, 3})

TEST_CASE("batchnorm: parameters, buffers and default initializers", "[plugins][layers]") {
    SECTION("affine") {
        auto layer = makeLayer("batchnorm");
        CHECK(layer->build(Shape{3, 5}) == Shape{3, 5});
        std::vector<gradlab::NamedParameter<double>> parameters;
        layer->collectParameters("", parameters);
        REQUIRE(parameters.size() == 2);
        CHECK(parameters[0].name == "gamma");
        CHECK(parameters[1].name == "beta");
        const auto& gamma = layer->param("gamma");
        CHECK(gamma.value.rows() == 3);
        CHECK(gamma.value.cols() == 1);
        CHECK(gamma.init.initializer == gradlab::InitializerSpec::constant(1.0));
        CHECK_FALSE(gamma.init.isWeight);
        CHECK(layer->param("beta").init.initializer == "zeros");
        CHECK_FALSE(layer->param("beta").init.isWeight);

        gradlab::Random random(7);
        gradlab::testing::initializeParameters(*layer, random);
        CHECK(gamma.value == Matrix<double>::Ones(3, 1));
        CHECK(layer->param("beta").value == Matrix<double>::Zero(3, 1));

        std::vector<std::pair<std::string, gradlab::Buffer<double>*>> buffers;
        layer->collectBuffers("layers.2.batchnorm.", buffers);
        REQUIRE(buffers.size() == 2);
        CHECK(buffers[0].first == "layers.2.batchnorm.running_mean");
        CHECK(buffers[1].first == "layers.2.batchnorm.running_var");
        CHECK(layer->buffer("running_mean").value == Matrix<double>::Zero(3, 1));
        CHECK(layer->buffer("running_var").value == Matrix<double>::Ones(3, 1));
    }
    SECTION("affine: false has no parameters but keeps its running statistics") {
        auto layer = makeLayer("{kind: batchnorm, affine: false}");
        layer->build(Shape{2});
        std::vector<gradlab::NamedParameter<double>> parameters;
        layer->collectParameters("", parameters);
        CHECK(parameters.empty());
        CHECK(layer->buffer("running_var").value.rows() == 2);
    }
}

TEST_CASE("batchnorm: train output is normalised per feature over the batch", "[plugins][layers]") {
    auto layer = makeLayer("{kind: batchnorm, epsilon: 1e-5}");
    layer->build(Shape{2});
    layer->param("gamma").value << 1, 1;
    layer->param("beta").value << 0, 0;
    const Matrix<double> x = batchA();
    Matrix<double> y;
    layer->forward(x, y, Phase::train);
    REQUIRE(y.rows() == 2);
    REQUIRE(y.cols() == 4);

    // By hand: y = (x - mean) / sqrt(biased var + eps).
    Matrix<double> expected(2, 4);
    expected << -1.5, -0.5, 0.5, 1.5,  //
        1, -3, -1, 3;
    expected.row(0) /= std::sqrt(1.25 + 1e-5);
    expected.row(1) /= std::sqrt(5.0 + 1e-5);
    CHECK(y.isApprox(expected, 1e-14));
    for (int feature = 0; feature < 2; ++feature) {
        CAPTURE(feature);
        CHECK(y.row(feature).mean() == Approx(0.0).margin(1e-15));
        CHECK(y.row(feature).squaredNorm() / 4.0 == Approx(1.0).epsilon(1e-5));  // var / (var + eps)
    }

    SECTION("gamma and beta set each feature's standard deviation and mean") {
        layer->param("gamma").value << 2, 0.5;
        layer->param("beta").value << 1, -1;
        layer->forward(x, y, Phase::train);
        CHECK(y.row(0).mean() == Approx(1.0).epsilon(1e-14));
        CHECK(y.row(1).mean() == Approx(-1.0).epsilon(1e-14));
        CHECK(y.row(0).isApprox(2.0 * expected.row(0) + Matrix<double>::Ones(1, 4), 1e-14));
        CHECK(y.row(1).isApprox(0.5 * expected.row(1) - Matrix<double>::Ones(1, 4), 1e-14));
    }
    SECTION("a constant feature gives 0, not NaN") {
        layer->forward(batchB(), y, Phase::train);
        CHECK(y.row(1) == Matrix<double>::Zero(1, 4));
    }
    SECTION("a batch-independent dy gives dx = 0 (shifting a whole feature changes nothing)") {
        layer->param("gamma").value << 2, 0.5;
        layer->forward(x, y, Phase::train);
        Matrix<double> dy(2, 4), dx;
        dy << 3, 3, 3, 3,  //
            -1, -1, -1, -1;
        layer->backward(x, y, dy, &dx);
        CHECK(dx.cwiseAbs().maxCoeff() < 1e-14);
        CHECK(layer->param("beta").grad.isApprox(Matrix<double>(dy.rowwise().sum()), 1e-15));
        CHECK(layer->param("gamma").grad.cwiseAbs().maxCoeff() < 1e-14);  // sum of xhat is 0
    }
}

TEST_CASE("batchnorm: running statistics after two steps with momentum 0.1", "[plugins][layers]") {
    auto layer = makeLayer("{kind: batchnorm, momentum: 0.1}");
    layer->build(Shape{2});
    layer->param("gamma").value << 1, 1;
    Matrix<double> y;
    // Step 1 (batch A): running_mean = 0.9 [0, 0] + 0.1 [2.5, 1] = [0.25, 0.1];
    //   running_var = 0.9 [1, 1] + 0.1 [5/3, 20/3] (unbiased) = [1.0666..., 1.5666...].
    layer->forward(batchA(), y, Phase::train);
    CHECK(layer->buffer("running_mean").value(0, 0) == Approx(0.25).epsilon(1e-14));
    CHECK(layer->buffer("running_mean").value(1, 0) == Approx(0.1).epsilon(1e-14));
    CHECK(layer->buffer("running_var").value(0, 0) == Approx(0.9 + 1.0 / 6.0).epsilon(1e-14));
    CHECK(layer->buffer("running_var").value(1, 0) == Approx(0.9 + 2.0 / 3.0).epsilon(1e-14));
    // Step 2 (batch B): running_mean = 0.9 [0.25, 0.1] + 0.1 [2, 1] = [0.425, 0.19];
    //   running_var = 0.9 [1.0666..., 1.5666...] + 0.1 [8, 0] = [1.76, 1.41].
    layer->forward(batchB(), y, Phase::train);
    CHECK(layer->buffer("running_mean").value(0, 0) == Approx(0.425).epsilon(1e-14));
    CHECK(layer->buffer("running_mean").value(1, 0) == Approx(0.19).epsilon(1e-14));
    CHECK(layer->buffer("running_var").value(0, 0) == Approx(1.76).epsilon(1e-14));
    CHECK(layer->buffer("running_var").value(1, 0) == Approx(1.41).epsilon(1e-14));

    SECTION("eval normalises with the running statistics and leaves them alone") {
        layer->param("gamma").value << 2, 1;
        layer->param("beta").value << 0.5, 0;
        Matrix<double> x(2, 2);
        x << 1, 0.425,  //
            2, 0.19;
        layer->forward(x, y, Phase::eval);
        CHECK(y(0, 0) == Approx(2.0 * (1 - 0.425) / std::sqrt(1.76 + 1e-5) + 0.5).epsilon(1e-14));
        CHECK(y(1, 0) == Approx((2 - 0.19) / std::sqrt(1.41 + 1e-5)).epsilon(1e-14));
        CHECK(y(0, 1) == Approx(0.5).epsilon(1e-14));  // x = running mean gives beta
        CHECK(y(1, 1) == Approx(0.0).margin(1e-15));
        CHECK(layer->buffer("running_mean").value(0, 0) == Approx(0.425).epsilon(1e-14));
        CHECK(layer->buffer("running_var").value(1, 0) == Approx(1.41).epsilon(1e-14));

        // Eval backward is the affine map: dx = gamma dy / sqrt(running_var + eps).
        Matrix<double> dy = Matrix<double>::Ones(2, 2), dx;
        layer->backward(x, y, dy, &dx);
        CHECK(dx(0, 0) == Approx(2.0 / std::sqrt(1.76 + 1e-5)).epsilon(1e-14));
        CHECK(dx(1, 1) == Approx(1.0 / std::sqrt(1.41 + 1e-5)).epsilon(1e-14));
    }
    SECTION("a single eval column is fine") {
        Matrix<double> x(2, 1);
        x << 0.425, 0.19;
        layer->forward(x, y, Phase::eval);
        CHECK(y.cwiseAbs().maxCoeff() < 1e-15);
    }
}

TEST_CASE("batchnorm: momentum 0 and 1", "[plugins][layers]") {
    Matrix<double> y;
    auto frozen = makeLayer("{kind: batchnorm, momentum: 0}");
    frozen->build(Shape{2});
    frozen->forward(batchA(), y, Phase::train);
    CHECK(frozen->buffer("running_mean").value == Matrix<double>::Zero(2, 1));
    CHECK(frozen->buffer("running_var").value == Matrix<double>::Ones(2, 1));

    auto latest = makeLayer("{kind: batchnorm, momentum: 1}");
    latest->build(Shape{2});
    latest->forward(batchA(), y, Phase::train);
    latest->forward(batchB(), y, Phase::train);
    CHECK(latest->buffer("running_mean").value(0, 0) == Approx(2.0).epsilon(1e-15));
    CHECK(latest->buffer("running_var").value(0, 0) == Approx(8.0).epsilon(1e-15));
}

TEST_CASE("batchnorm: a sequence's timesteps all count as the batch", "[plugins][layers]") {
    // [2 features x (2 timesteps * 2 samples)] is batch A seen as a sequence: the same statistics.
    auto layer = makeLayer("batchnorm");
    CHECK(layer->build(Shape{2, 2}) == Shape{2, 2});
    layer->param("gamma").value << 1, 1;
    Matrix<double> y;
    layer->forward(batchA(), y, Phase::train);
    CHECK(layer->buffer("running_mean").value(0, 0) == Approx(0.25).epsilon(1e-14));
    CHECK(y.row(0).mean() == Approx(0.0).margin(1e-15));
}

TEST_CASE("batchnorm: bad options and inputs are refused with clear messages", "[plugins][layers]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: batchnorm, momentum: 1.5}"), Catch::Contains("momentum"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: batchnorm, momentum: -0.1}"), Catch::Contains("momentum"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: batchnorm, epsilon: 0}"), Catch::Contains("epsilon"));
    auto layer = makeLayer("batchnorm");
    layer->build(Shape{3});
    Matrix<double> y;
    CHECK_THROWS_WITH(layer->forward(Matrix<double>::Ones(4, 2), y, Phase::train),
                      Catch::Contains("3 features") && Catch::Contains("4 rows"));
    CHECK_THROWS_WITH(layer->forward(Matrix<double>::Ones(3, 1), y, Phase::train),
                      Catch::Contains("more than 1 value"));
}
