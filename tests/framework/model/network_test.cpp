#include "model/network.hpp"

#include <catch2/catch.hpp>

#include "config/config_node.hpp"
#include "config/plugin_spec_reader.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;

namespace {

/// A network with parameters in several layers, one of them nested (a residual block holding a batchnorm).
Network<double> makeNetwork() {
    const ConfigNode list = loadConfigText(R"(
- {kind: dense, units: 6}
- tanh
- {kind: residual, layers: [{kind: dense, units: 6}, {kind: batchnorm}, relu]}
- {kind: dense, units: 3}
)",
                                           "network_test");
    const std::vector<PluginSpec> specs = readLayerList(list, testing::builtinPlugins(), YAML::Node(YAML::NodeType::Sequence));
    Random random(7);
    return Network<double>(specs, Shape{4, 1}, testing::builtinPlugins(), random);
}

}  // namespace

TEST_CASE("backward with zeroGradients gives this backward's gradients, as zeroGradients() then backward() does",
          "[model]") {
    Network<double> fused = makeNetwork(), separate = makeNetwork();
    Random random(11);
    Matrix<double> x(4, 5);
    for (Index i = 0; i < x.size(); ++i) x(i) = random.normal();
    REQUIRE(fused.parameters().size() == separate.parameters().size());
    REQUIRE(fused.parameters().size() >= 6);

    for (int step = 0; step < 2; ++step) {
        // Stale gradients from a previous step must not survive in either.
        for (auto* network : {&fused, &separate})
            for (const auto& parameter : network->parameters()) parameter.parameter->grad.setConstant(100.0 + step);
        for (auto* network : {&fused, &separate}) {
            network->forward(x, Phase::train);
            network->outputGradient() = network->forward(x, Phase::train);  // d(0.5 ||y||^2)/dy
        }
        fused.backward(x, /*zeroGradients=*/true);
        separate.zeroGradients();
        separate.backward(x);
        for (std::size_t i = 0; i < fused.parameters().size(); ++i) {
            INFO(fused.parameters()[i].name);
            CHECK(fused.parameters()[i].parameter->grad == separate.parameters()[i].parameter->grad);
            CHECK(fused.parameters()[i].parameter->grad.cwiseAbs().maxCoeff() < 50.0);
        }
    }

    // Without it, gradients accumulate.
    const Matrix<double> before = separate.parameters().front().parameter->grad;
    separate.backward(x);
    CHECK(separate.parameters().front().parameter->grad.isApprox(2.0 * before));
}
