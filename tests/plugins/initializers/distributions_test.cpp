#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

Matrix<double> initialize(const std::string& yaml, std::uint64_t seed, gradlab::Index size = 400) {
    gradlab::Random random(seed);
    Matrix<double> value(size, size);
    builtinPlugins().makeInitializer<double>(spec(PluginKind::initializer, yaml))
        ->initialize(value, gradlab::ParameterInit{}, random);
    return value;
}

double mean(const Matrix<double>& value) { return value.mean(); }

double standardDeviation(const Matrix<double>& value) {
    return std::sqrt((value.array() - value.mean()).square().sum() / static_cast<double>(value.size() - 1));
}

}  // namespace

TEST_CASE("normal: mean and std of a 400 x 400 draw", "[plugins][initializers]") {
    // With 160000 draws the standard error of the mean is std / 400 and of the std about std / 566.
    SECTION("defaults: N(0, 1)") {
        const Matrix<double> value = initialize("normal", 7);
        CHECK(std::abs(mean(value)) < 0.01);
        CHECK(standardDeviation(value) == Approx(1.0).epsilon(0.01));
    }
    SECTION("N(2, 0.5^2)") {
        const Matrix<double> value = initialize("{kind: normal, mean: 2, std: 0.5}", 7);
        CHECK(mean(value) == Approx(2.0).margin(0.005));
        CHECK(standardDeviation(value) == Approx(0.5).epsilon(0.01));
    }
}

TEST_CASE("uniform: bounds, mean and std of a 400 x 400 draw", "[plugins][initializers]") {
    SECTION("defaults: U[-0.05, 0.05)") {
        const Matrix<double> value = initialize("uniform", 7);
        CHECK(value.minCoeff() >= -0.05);
        CHECK(value.maxCoeff() < 0.05);
        CHECK(std::abs(mean(value)) < 4 * 0.1 / std::sqrt(12.0) / 400);
        CHECK(standardDeviation(value) == Approx(0.1 / std::sqrt(12.0)).epsilon(0.01));
    }
    SECTION("U[1, 3)") {
        const Matrix<double> value = initialize("{kind: uniform, low: 1, high: 3}", 7);
        CHECK(value.minCoeff() >= 1.0);
        CHECK(value.maxCoeff() < 3.0);
        CHECK(mean(value) == Approx(2.0).margin(0.01));
    }
    SECTION("low must be below high") {
        CHECK_THROWS_WITH(builtinPlugins().makeInitializer<double>(
                              spec(PluginKind::initializer, "{kind: uniform, low: 1, high: 1}")),
                          Catch::Contains("low") && Catch::Contains("high"));
    }
}

TEST_CASE("normal and uniform are determined by the seed", "[plugins][initializers]") {
    const std::string yaml = GENERATE(as<std::string>{}, "normal", "uniform");
    CHECK(initialize(yaml, 3, 8) == initialize(yaml, 3, 8));
    CHECK(initialize(yaml, 3, 8) != initialize(yaml, 4, 8));
}
