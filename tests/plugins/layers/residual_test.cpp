#include <catch2/catch.hpp>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 4, activation: tanh}]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 3, activation: tanh}, {kind: dense, units: 5}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, projection: always, layers: [{kind: dense, units: 4}, relu]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE(
    "{kind: residual, layers: [{kind: residual, layers: [{kind: dense, units: 3, activation: sigmoid}]}, "
    "{kind: dense, units: 3, activation: {kind: prelu, per_unit: true}}]}",
    Shape{3})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 2, activation: tanh}]}", Shape{2, 3})

namespace {

std::shared_ptr<Layer<double>> build(const std::string& yaml, Shape input) {
    auto layer = testing::builtinPlugins().makeLayer<double>(testing::spec(PluginKind::layer, yaml));
    layer->build(input);
    return layer;
}

}  // namespace

TEST_CASE("residual: y = F(x) + x with hand-set weights", "[plugins][layers]") {
    auto layer = build("{kind: residual, layers: [{kind: dense, units: 2, bias: false}]}", Shape{2});
    Matrix<double>& w = layer->param("layers.0.dense.W").value;
    w << 1, 2, 3, 4;
    Matrix<double> x(2, 1), y;
    x << 1, -1;
    layer->forward(x, y, Phase::train);
    CHECK(y(0, 0) == Approx(1 - 2 + 1));
    CHECK(y(1, 0) == Approx(3 - 4 - 1));
    // The identity path passes the gradient through unchanged even when F's weights are zero.
    w.setZero();
    layer->forward(x, y, Phase::train);
    Matrix<double> dy = Matrix<double>::Constant(2, 1, 0.5), dx;
    layer->backward(x, y, dy, &dx);
    CHECK(dx(0, 0) == Approx(0.5));
    CHECK(dx(1, 0) == Approx(0.5));
}

TEST_CASE("residual: parameters are named by child, with a projection when widths differ", "[plugins][layers]") {
    auto same = build("{kind: residual, layers: [{kind: dense, units: 4}]}", Shape{4});
    std::vector<NamedParameter<double>> names;
    same->collectParameters("", names);
    REQUIRE(names.size() == 2);
    CHECK(names[0].name == "layers.0.dense.W");
    CHECK(names[1].name == "layers.0.dense.b");

    auto projected = build("{kind: residual, layers: [{kind: dense, units: 3}]}", Shape{4});
    CHECK(projected->param("projection").value.rows() == 3);
    CHECK(projected->param("projection").value.cols() == 4);

    CHECK_THROWS_WITH(build("{kind: residual, projection: never, layers: [{kind: dense, units: 3}]}", Shape{4}),
                      Contains("maps 4 features to 3") && Contains("projection is 'never'"));
}

TEST_CASE("residual: init overrides reach nested layers", "[plugins][layers]") {
    auto layer = build("{kind: residual, layers: [{kind: dense, units: 2, init: {W: {kind: constant, value: 0.5}}}]}",
                       Shape{2});
    CHECK(layer->param("layers.0.dense.W").init.initializer == gradlab::InitializerSpec::constant(0.5));
    CHECK_THROWS_WITH(build("{kind: residual, layers: [{kind: dense, units: 2, init: {V: zeros}}]}", Shape{2}),
                      Contains("init: no parameter 'V'") && Contains("known: W, b"));
}

TEST_CASE("residual: a config error inside the block names its place", "[plugins][layers]") {
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual, layers: [{kind: dense, unit: 2}]}"),
                      Contains("layers.0") && Contains("needs option 'units'"));
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual}"), Contains("needs option 'layers'"));
}
