// Locating a NaN or Inf by phase, layer or parameter, and timestep, on a real network's state.
#include "training/nonfinite.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "config/config_node.hpp"
#include "config/plugin_spec_reader.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

Network<double> makeNetwork() {
    const ConfigNode list = loadConfigText("- {kind: dense, units: 5}\n- tanh\n- {kind: dense, units: 2}\n", "nonfinite");
    const std::vector<PluginSpec> specs =
        readLayerList(list, testing::builtinPlugins(), YAML::Node(YAML::NodeType::Sequence));
    Random random(3);
    return Network<double>(specs, Shape{3, 1}, testing::builtinPlugins(), random);
}

Matrix<double> batch() {
    Matrix<double> x(3, 4);
    Random random(5);
    for (Index i = 0; i < x.size(); ++i) x(i) = random.normal();
    return x;
}

}  // namespace

TEST_CASE("locateForward: a parameter the last update broke, else the first non-finite layer output", "[training]") {
    Network<double> network = makeNetwork();
    Matrix<double> x = batch();
    network.forward(x, Phase::train);
    Event event = locateForward(network, 7, INFINITY);
    CHECK(event.kind == "non_finite");
    CHECK(event.step == 7);
    CHECK(event.where == "forward loss");  // everything finite: the loss itself overflowed
    CHECK_THAT(event.message, Contains("loss became Inf at step 7"));

    x(1, 2) = NAN;
    network.forward(x, Phase::train);
    event = locateForward(network, 7, NAN);
    CHECK(event.where == "forward layers.0.dense");
    CHECK(event.timestep == -1);

    network.parameters()[2].parameter->value(0, 0) = NAN;  // layers.2.dense.W
    event = locateForward(network, 8, NAN);
    CHECK(event.where == "update " + network.parameters()[2].name);
    CHECK_THAT(event.message, Contains("after the update of step 7"));
}

TEST_CASE("locateBackward: the first non-finite signal from the output down, else a parameter gradient",
          "[training]") {
    Network<double> network = makeNetwork();
    const Matrix<double> x = batch();
    network.forward(x, Phase::train);
    network.outputGradient().setOnes(2, 4);
    network.backward(x, true);
    Event event = locateBackward(network, 3, NAN);
    CHECK(event.where == "backward");
    network.parameters()[0].parameter->grad(1, 1) = INFINITY;
    event = locateBackward(network, 3, INFINITY);
    CHECK(event.where == "backward " + network.parameters()[0].name);
    CHECK_THAT(event.message, Contains("gradient norm became Inf at step 3"));
    network.outputGradient()(1, 3) = NAN;
    network.backward(x, true);
    event = locateBackward(network, 4, NAN);
    CHECK(event.where == "backward layers.2.dense");
}

TEST_CASE("firstNonFiniteTimestep finds the step of a sequence, -1 elsewhere", "[training]") {
    Matrix<float> sequence = Matrix<float>::Ones(2, 3 * 4);  // T = 3, batch 4: step t in columns [4t, 4t + 4)
    CHECK(firstNonFiniteTimestep(sequence, Shape{2, 3}) == -1);
    sequence(1, 9) = NAN;
    CHECK(firstNonFiniteTimestep(sequence, Shape{2, 3}) == 2);
    sequence(0, 5) = INFINITY;
    CHECK(firstNonFiniteTimestep(sequence, Shape{2, 3}) == 1);
    CHECK(firstNonFiniteTimestep(sequence, Shape{2, 1}) == -1);
    const Event update = nonFiniteUpdate("layers.0.dense.W", 12, NAN);
    CHECK(update.where == "update layers.0.dense.W");
    CHECK(update.step == 12);
}
