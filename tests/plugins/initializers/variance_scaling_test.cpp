#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

constexpr gradlab::Index fanInUnits = 400;
constexpr gradlab::Index fanOutUnits = 100;

Matrix<double> initialize(const std::string& yaml, std::uint64_t seed, gradlab::Index size = 400,
                          gradlab::Index fanIn = fanInUnits, gradlab::Index fanOut = fanOutUnits) {
    gradlab::Random random(seed);
    gradlab::ParameterInit init;
    init.fanIn = fanIn;
    init.fanOut = fanOut;
    Matrix<double> value(size, size);
    builtinPlugins().makeInitializer<double>(spec(PluginKind::initializer, yaml))->initialize(value, init, random);
    return value;
}

/// One initializer and the standard deviation it must produce with fanIn = 400, fanOut = 100.
struct Expected {
    std::string yaml;
    double std;
    bool uniform;  ///< then entries lie in [-sqrt(3) std, sqrt(3) std)
};

}  // namespace

TEST_CASE("fan-scaled initializers: std of a 400 x 400 draw, uniform bounds", "[plugins][initializers]") {
    const double fanSum = static_cast<double>(fanInUnits + fanOutUnits);
    auto expected = GENERATE_COPY(values<Expected>({
        {"glorot_normal", std::sqrt(2.0 / fanSum), false},
        {"xavier_normal", std::sqrt(2.0 / fanSum), false},
        {"{kind: glorot_normal, gain: 2}", 2.0 * std::sqrt(2.0 / fanSum), false},
        {"glorot_uniform", std::sqrt(6.0 / fanSum) / std::sqrt(3.0), true},
        {"xavier_uniform", std::sqrt(6.0 / fanSum) / std::sqrt(3.0), true},
        {"he_normal", std::sqrt(2.0 / fanInUnits), false},
        {"kaiming_normal", std::sqrt(2.0 / fanInUnits), false},
        {"{kind: he_normal, mode: fan_out}", std::sqrt(2.0 / fanOutUnits), false},
        {"{kind: he_normal, gain: 1}", std::sqrt(1.0 / fanInUnits), false},
        {"he_uniform", std::sqrt(6.0 / fanInUnits) / std::sqrt(3.0), true},
        {"kaiming_uniform", std::sqrt(6.0 / fanInUnits) / std::sqrt(3.0), true},
        {"{kind: kaiming_uniform, mode: fan_out}", std::sqrt(6.0 / fanOutUnits) / std::sqrt(3.0), true},
        {"lecun_normal", std::sqrt(1.0 / fanInUnits), false},
    }));
    INFO(expected.yaml);
    const Matrix<double> value = initialize(expected.yaml, 11);
    const double mean = value.mean();
    const double std = std::sqrt((value.array() - mean).square().mean());
    CHECK(std::abs(mean) < 4.0 * expected.std / 400.0);
    CHECK(std == Approx(expected.std).epsilon(0.01));
    if (expected.uniform) {
        const double bound = std::sqrt(3.0) * expected.std;
        CHECK(value.cwiseAbs().maxCoeff() <= bound);
        CHECK(value.cwiseAbs().maxCoeff() > 0.999 * bound);
    }
}

TEST_CASE("fan-scaled initializers are determined by the seed", "[plugins][initializers]") {
    const std::string yaml = GENERATE(as<std::string>{}, "glorot_uniform", "he_normal", "lecun_normal");
    CHECK(initialize(yaml, 5, 6) == initialize(yaml, 5, 6));
    CHECK(initialize(yaml, 5, 6) != initialize(yaml, 6, 6));
}

TEST_CASE("fan-scaled initializers refuse a parameter without fans", "[plugins][initializers]") {
    CHECK_THROWS_WITH(initialize("glorot_uniform", 1, 3, 3, 0), Catch::Contains("fanOut"));
    CHECK_THROWS_WITH(initialize("he_normal", 1, 3, 0, 3), Catch::Contains("fanIn"));
    CHECK_THROWS_WITH(initialize("lecun_normal", 1, 3, 0, 3), Catch::Contains("fanIn"));
    CHECK_THROWS_WITH(spec(PluginKind::initializer, "{kind: he_uniform, mode: fan_avg}"), Catch::Contains("mode"));
}
