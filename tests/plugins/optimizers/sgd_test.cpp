#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/optimizer_steps.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::checkDeltas;
using gradlab::testing::row;
using gradlab::testing::spec;
using gradlab::testing::threeSteps;

/// sgd's deltas are plain products: they must match to rounding (relative 1e-14, no absolute margin).
const gradlab::testing::DeltaTolerance sgdTolerance{1e-14, 0.0};

// g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0]; lr = 0.1, mu = 0.9. By hand:
//   momentum: v1 = [0.5, 1], v2 = 0.9 v1 + g2 = [0.65, 0.5], v3 = 0.9 v2 + g3 = [-0.415, 0.45]; delta = -0.1 v
//   nesterov: delta = -0.1 (g + 0.9 v) = -0.1 [0.95, 1.9], -0.1 [0.785, 0.05], -0.1 [-1.3735, 0.405]
TEST_CASE("sgd: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("plain: delta = -lr g") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1}", 0.1), {row(-0.05, -0.1), row(-0.02, 0.04), row(0.1, 0.0)},
                    sgdTolerance);
    }
    SECTION("momentum: v = mu v + g, delta = -lr v") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1, momentum: 0.9}", 0.1),
                    {row(-0.05, -0.1), row(-0.065, -0.05), row(0.0415, -0.045)}, sgdTolerance);
    }
    SECTION("nesterov: delta = -lr (g + mu v)") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1, momentum: 0.9, nesterov: true}", 0.1),
                    {row(-0.095, -0.19), row(-0.0785, -0.005), row(0.13735, -0.0405)}, sgdTolerance);
    }
    SECTION("the learning rate passed by the host's schedule is the one used") {
        checkDeltas(threeSteps("{kind: sgd, lr: 0.1}", 0.05), {row(-0.025, -0.05), row(-0.01, 0.02), row(0.05, 0.0)},
                    sgdTolerance);
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
        const auto run = gradlab::testing::twoSlotSteps("{kind: sgd, lr: 1, momentum: 0.5}", 1.0f, 4.0f, 1.0f);
        CHECK(run.deltaA(0, 0) == -1.5f);  // v = 0.5 * 1 + 1
        CHECK(run.deltaB(1, 0) == -4.0f);
    }
}
