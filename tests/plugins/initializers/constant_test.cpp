#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

Matrix<double> initialize(const std::string& yaml, Matrix<double> value) {
    gradlab::Random random(1);
    gradlab::ParameterInit init;
    builtinPlugins().makeInitializer<double>(spec(PluginKind::initializer, yaml))->initialize(value, init, random);
    return value;
}

}  // namespace

TEST_CASE("constant and zeros overwrite every entry, keeping the shape", "[plugins][initializers]") {
    const Matrix<double> prefilled = Matrix<double>::Constant(3, 2, 7.0);
    SECTION("constant with a value (the prelu slope's default spec)") {
        const Matrix<double> value = initialize("{kind: constant, value: 0.25}", prefilled);
        CHECK(value == Matrix<double>::Constant(3, 2, 0.25));
    }
    SECTION("constant defaults to 0") { CHECK(initialize("constant", prefilled) == Matrix<double>::Zero(3, 2)); }
    SECTION("zeros") { CHECK(initialize("zeros", prefilled) == Matrix<double>::Zero(3, 2)); }
    SECTION("float32") {
        gradlab::Random random(1);
        Matrix<float> value = Matrix<float>::Ones(2, 2);
        builtinPlugins()
            .makeInitializer<float>(spec(PluginKind::initializer, "{kind: constant, value: -1.5}"))
            ->initialize(value, gradlab::ParameterInit{}, random);
        CHECK(value == Matrix<float>::Constant(2, 2, -1.5f));
    }
}
