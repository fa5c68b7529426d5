// The scan shared by the trace's /theory and the probes' MeanFieldView (theory/dense_stack.hpp): which layer lists
// are a dense stack with one activation, and the measured sigma_w^2 and sigma_b^2 against a loop over the weights.
#include "theory/dense_stack.hpp"

#include <catch2/catch.hpp>

#include "config/config_node.hpp"
#include "config/plugin_spec_reader.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;

namespace {

std::vector<PluginSpec> layerList(const char* yaml) {
    const ConfigNode list = loadConfigText(yaml, "dense_stack_test");
    return readLayerList(list, testing::builtinPlugins(), YAML::Node(YAML::NodeType::Sequence));
}

std::vector<std::string> namesOf(const std::vector<PluginSpec>& layers) {
    std::vector<std::string> names;
    for (std::size_t l = 0; l < layers.size(); ++l) names.push_back("layers." + std::to_string(l) + "." + layers[l].name);
    return names;
}

}  // namespace

TEST_CASE("dense stack: dense layers with one activation, identity left out, anything else named",
          "[theory]") {
    const auto stack = layerList(R"(
- {kind: dense, units: 6, activation: tanh}
- {kind: dense, units: 6}
- tanh
- identity
- {kind: dense, units: 3}
)");
    const theory::DenseStack scanned = theory::scanDenseStack(stack, namesOf(stack));
    CHECK(scanned.note.empty());
    CHECK(scanned.dense == std::vector<std::size_t>{0, 1, 4});
    REQUIRE(scanned.activation != nullptr);
    CHECK(scanned.activation->name == "tanh");
    CHECK(scanned.activationLayers == 2);

    const auto mixed = layerList("[{kind: dense, units: 4, activation: tanh}, relu, {kind: dense, units: 2}]");
    CHECK(theory::scanDenseStack(mixed, namesOf(mixed)).note == "mixed activations (tanh and relu)");
    const auto normed = layerList("[{kind: dense, units: 4}, {kind: batchnorm}, relu, {kind: dense, units: 2}]");
    CHECK(theory::scanDenseStack(normed, namesOf(normed)).note ==
          "layer layers.1.batchnorm (batchnorm) is neither a dense layer nor an element-wise activation");
    const auto linear = layerList("[{kind: dense, units: 4}, {kind: dense, units: 2}]");
    const theory::DenseStack none = theory::scanDenseStack(linear, namesOf(linear));
    CHECK(none.note.empty());
    CHECK(none.activation == nullptr);
    CHECK(none.dense.size() == 2);
}

TEST_CASE("dense stack: sigma_w^2 and sigma_b^2 are fan-in times the mean of W^2 and the mean of b^2, averaged",
          "[theory]") {
    const auto layers = layerList(R"(
- {kind: dense, units: 7, activation: tanh, init: {b: {kind: normal, std: 0.3}}}
- {kind: dense, units: 5, bias: false, activation: tanh}
- {kind: dense, units: 3, init: {b: {kind: normal, std: 0.1}}}
)");
    Random random(3);
    Network<double> network(layers, Shape{4, 1}, testing::builtinPlugins(), random);
    double w2 = 0, b2 = 0;
    const std::vector<std::size_t> which = {0, 1, 2};
    for (std::size_t l : which) {
        const Matrix<double>& weight = network.layer(l).param("W").value;
        double sum = 0;
        for (Index i = 0; i < weight.size(); ++i) sum += weight(i) * weight(i);
        w2 += static_cast<double>(weight.cols()) * sum / static_cast<double>(weight.size());
        if (l != 1) {
            const Matrix<double>& bias = network.layer(l).param("b").value;
            double squares = 0;
            for (Index i = 0; i < bias.size(); ++i) squares += bias(i) * bias(i);
            b2 += squares / static_cast<double>(bias.size());
        }
    }
    const theory::Variances measured = theory::measuredVariances(network, layers, which);
    CHECK(measured.sigmaW2 == Approx(w2 / 3).epsilon(1e-14));
    CHECK(measured.sigmaB2 == Approx(b2 / 3).epsilon(1e-14));
    CHECK(measured.sigmaB2 > 0);
    const theory::Variances middle = theory::measuredVariances(network, layers, {1});
    CHECK(middle.sigmaB2 == 0);  // no bias
}
