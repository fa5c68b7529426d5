#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

Matrix<double> row(double a, double b) {
    Matrix<double> m(1, 2);
    m << a, b;
    return m;
}

/// Runs three steps of the optimizer `yaml` on one [1 x 2] slot with the gradients g1, g2, g3; returns the deltas.
std::vector<Matrix<double>> threeSteps(const std::string& yaml, double learningRate) {
    auto sgd = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, yaml));
    sgd->attach({gradlab::ParameterSlot{"layers.0.dense.W", 1, 2}});
    const std::vector<Matrix<double>> grads{row(0.5, 1.0), row(0.2, -0.4), row(-1.0, 0.0)};
    Matrix<double> value = row(1.0, -2.0);
    std::vector<Matrix<double>> deltas;
    for (std::size_t step = 0; step < grads.size(); ++step) {
        Matrix<double> delta = Matrix<double>::Constant(1, 2, 1e9);  // overwritten, not added to
        sgd->update(0, value, grads[step], learningRate, static_cast<std::int64_t>(step + 1), delta);
        value += delta;
        deltas.push_back(delta);
    }
    return deltas;
}

void checkDeltas(const std::vector<Matrix<double>>& actual, const std::vector<Matrix<double>>& expected) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t step = 0; step < actual.size(); ++step) {
        INFO("step " << step + 1 << ": got " << actual[step] << ", expected " << expected[step]);
        CHECK(actual[step](0, 0) == Approx(expected[step](0, 0)).epsilon(1e-14));
        CHECK(actual[step](0, 1) == Approx(expected[step](0, 1)).epsilon(1e-14));
    }
}

}  // namespace

// g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0]; lr = 0.1, mu = 0.9. By hand:
//   momentum: v1 = [0.5, 1], v2 = 0.9 v1 + g2 = [0.65, 0.5], v3 = 0.9 v2 + g3 = [-0.415, 0.45]; delta = -0.1 v
//   nesterov: delta = -0.1 (g + 0.9 v) = -0.1 [0.95, 1.9], -0.1 [0.785, 0.05], -0.1 [-1.3735, 0.405]
TEST_CASE("sgd: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("plain: delta = -lr g") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1}", 0.1), {row(-0.05, -0.1), row(-0.02, 0.04), row(0.1, 0.0)});
    }
    SECTION("momentum: v = mu v + g, delta = -lr v") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1, momentum: 0.9}", 0.1),
                    {row(-0.05, -0.1), row(-0.065, -0.05), row(0.0415, -0.045)});
    }
    SECTION("nesterov: delta = -lr (g + mu v)") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1, momentum: 0.9, nesterov: true}", 0.1),
                    {row(-0.095, -0.19), row(-0.0785, -0.005), row(0.13735, -0.0405)});
    }
    SECTION("the learning rate passed by the host's schedule is the one used") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1}", 0.05), {row(-0.025, -0.05), row(-0.01, 0.02), row(0.05, 0.0)});
    }
}

TEST_CASE("sgd: options, defaults and per-slot state", "[plugins][optimizers]") {
    SECTION("defaults") {
        auto sgd = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "sgd"));
        CHECK(sgd->learningRate() == 0.01);
    }
    SECTION("bad values are refused") {
        CHECK_THROWS_WITH(builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "{kind: sgd, nesterov: true}")),
                          Catch::Contains("nesterov") && Catch::Contains("momentum"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: sgd, momentum: 1}"), Catch::Contains("momentum"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: sgd, lr: 0}"), Catch::Contains("lr"));
    }
    SECTION("each slot keeps its own velocity") {
        auto sgd = builtinPlugins().makeOptimizer<float>(spec(PluginKind::optimizer, "{kind: sgd, lr: 1, momentum: 0.5}"));
        sgd->attach({{"a", 1, 1}, {"b", 2, 1}});
        const Matrix<float> valueA = Matrix<float>::Zero(1, 1), valueB = Matrix<float>::Zero(2, 1);
        Matrix<float> deltaA, deltaB;
        sgd->update(0, valueA, Matrix<float>::Constant(1, 1, 1.0f), 1.0, 1, deltaA);
        sgd->update(1, valueB, Matrix<float>::Constant(2, 1, 4.0f), 1.0, 1, deltaB);
        sgd->update(0, valueA, Matrix<float>::Constant(1, 1, 1.0f), 1.0, 2, deltaA);
        CHECK(deltaA(0, 0) == -1.5f);  // v = 0.5 * 1 + 1
        CHECK(deltaB(1, 0) == -4.0f);
    }
}
