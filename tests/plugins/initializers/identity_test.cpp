#include <catch2/catch.hpp>

#include <string>

#include "config/config_node.hpp"
#include "config/plugin_spec_reader.hpp"
#include "gradlab/error.hpp"
#include "model/network.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;
using Catch::Matchers::Contains;

namespace {

template <typename Scalar = double>
Matrix<Scalar> initialize(const std::string& yaml, gradlab::Index rows, gradlab::Index cols) {
    gradlab::Random random(3);
    gradlab::ParameterInit init;
    init.fanIn = cols;
    init.fanOut = rows;
    Matrix<Scalar> value = Matrix<Scalar>::Constant(rows, cols, 5);
    builtinPlugins().makeInitializer<Scalar>(spec(PluginKind::initializer, yaml))->initialize(value, init, random);
    return value;
}

}  // namespace

TEST_CASE("identity: W = gain I, overwriting every entry, in both precisions", "[plugins][initializers]") {
    const double gain = GENERATE(1.0, 0.5, 2.0);
    const gradlab::Index units = GENERATE(1, 7, 100);
    CAPTURE(gain, units);
    const Matrix<double> value = initialize("{kind: identity, gain: " + std::to_string(gain) + "}", units, units);
    for (gradlab::Index i = 0; i < units; ++i)
        for (gradlab::Index j = 0; j < units; ++j) CHECK(value(i, j) == (i == j ? gain : 0.0));
    const Matrix<float> single = initialize<float>("{kind: identity, gain: " + std::to_string(gain) + "}", units, units);
    CHECK(single.cast<double>() == value);
    CHECK(initialize("identity", units, units) == Matrix<double>::Identity(units, units));  // gain defaults to 1
}

TEST_CASE("identity: a non-square matrix is refused, naming its shape", "[plugins][initializers][errors]") {
    CHECK_THROWS_WITH(initialize("identity", 4, 3),
                      Contains("initializer identity needs a square matrix, got [4 x 3]"));
    CHECK_THROWS_WITH(initialize("identity", 3, 4), Contains("got [3 x 4]"));
}

TEST_CASE("identity: an IRNN's W_h starts as the identity through the real loader", "[plugins][initializers]") {
    // The layer's `init:` map picks the initializer of W_h; W_x keeps its default (glorot_uniform).
    const gradlab::ConfigNode list = gradlab::loadConfigText(
        "- {kind: rnn, units: 6, activation: relu, return_sequences: false, init: {W_h: identity}}\n", "irnn");
    const std::vector<gradlab::PluginSpec> specs =
        gradlab::readLayerList(list, builtinPlugins(), YAML::Node(YAML::NodeType::Sequence));
    gradlab::Random random(1);
    gradlab::Network<double> network(specs, gradlab::Shape{3, 5}, builtinPlugins(), random);
    CHECK(network.layer(0).param("W_h").value == Matrix<double>::Identity(6, 6));
    CHECK(network.layer(0).param("W_x").value.cwiseAbs().maxCoeff() > 0);
}
