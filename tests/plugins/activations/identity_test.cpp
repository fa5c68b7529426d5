#include <catch2/catch.hpp>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

GRADLAB_ACTIVATION_CONFORMANCE("identity")

TEST_CASE("identity: f(x) = x, f'(x) = 1, no parameters", "[plugins][activations]") {
    auto identity = builtinPlugins().makeActivation<double>(spec(PluginKind::activation, "identity"));
    identity->build(3);
    const double x = GENERATE(-2.5, 0.0, 1e-3, 7.0);
    CHECK(identity->value(x) == x);
    CHECK(identity->slope(x) == 1.0);
    CHECK(identity->ownParameters().empty());
}
