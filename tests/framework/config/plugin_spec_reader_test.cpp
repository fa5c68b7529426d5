#include "config/plugin_spec_reader.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::InitializerSpec;
using gradlab::PluginKind;
using gradlab::PluginSpec;
using gradlab::readPluginSpec;
using gradlab::testing::builtinPlugins;
using Catch::Matchers::Contains;

TEST_CASE("a typed initializer spec becomes the validated spec its YAML would give", "[config][plugins]") {
    SECTION("a name takes every default") {
        const PluginSpec typed = readPluginSpec(InitializerSpec("he_normal"), builtinPlugins(), "here");
        const PluginSpec written = gradlab::testing::spec(PluginKind::initializer, "he_normal");
        CHECK(typed.kind == PluginKind::initializer);
        CHECK(typed.name == "he_normal");
        CHECK(typed.where == "here");
        CHECK(typed.options->values() == written.options->values());
    }
    SECTION("values are kept exactly, with the defaults of the options not given") {
        const double value = 0.30000000000000004;  // 17 significant digits: text would need all of them
        const PluginSpec typed = readPluginSpec(InitializerSpec::constant(value), builtinPlugins(), "");
        CHECK(typed.options->real("value") == value);
        const PluginSpec gain = readPluginSpec(InitializerSpec("orthogonal").with("gain", 2.0), builtinPlugins(), "");
        CHECK(gain.options->real("gain") == 2.0);
    }
    SECTION("an integer is a number, as in YAML") {
        const PluginSpec typed =
            readPluginSpec(InitializerSpec("constant").with("value", std::int64_t{3}), builtinPlugins(), "");
        CHECK(typed.options->real("value") == 3.0);
    }
}

TEST_CASE("a typed initializer spec is refused like a config's, naming where it was declared", "[config][plugins]") {
    const std::string where = "layers.0.dense.W";
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("glorot_unifrom"), builtinPlugins(), where),
                      Contains(where + ": unknown initializer 'glorot_unifrom'") && Contains("glorot_uniform"));
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("constant").with("valeu", 1.0), builtinPlugins(), where),
                      Contains("initializer 'constant' has no option 'valeu'") && Contains("value"));
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("constant").with("value", std::string("one")), builtinPlugins(),
                                     where),
                      Contains("option 'value' of initializer 'constant' must be a number"));
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("normal").with("std", -1.0), builtinPlugins(), where),
                      Contains(where + ": option 'std' must be >= 0, got -1"));
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("he_normal").with("mode", std::string("fan_avg")),
                                     builtinPlugins(), where),
                      Contains("option 'mode': unknown value 'fan_avg'"));
    CHECK_THROWS_WITH(readPluginSpec(InitializerSpec("from_file"), builtinPlugins(), where),
                      Contains("initializer 'from_file' needs option 'file'"));
}

TEST_CASE("a layer's init: map holds validated specs, applied to the parameters' typed defaults", "[config][plugins]") {
    const PluginSpec layer = gradlab::testing::spec(
        PluginKind::layer, "{kind: dense, units: 2, init: {W: {kind: normal, std: 0.5}, b: {kind: constant, value: 2}}}");
    REQUIRE(layer.init.size() == 2);
    const PluginSpec& weight = layer.init.at("W");
    CHECK(weight.kind == PluginKind::initializer);
    CHECK(weight.name == "normal");
    CHECK(weight.options->real("std") == 0.5);
    CHECK(weight.options->real("mean") == 0.0);  // the default, filled in
    CHECK(layer.init.at("b").options->real("value") == 2.0);
}
