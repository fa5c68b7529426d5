#include <catch2/catch.hpp>

#include <cmath>
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

// torch.optim.RMSprop with g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0], lr 0.01, alpha 0.99, eps 1e-8:
//   s = alpha s + (1 - alpha) g^2; centered: a = alpha a + (1 - alpha) g, d = sqrt(s - a^2) + eps, else
//   d = sqrt(s) + eps; delta = -lr g / d, or with momentum b = mu b + g / d, delta = -lr b.
// Step 1 by hand: s = 0.01 g^2, sqrt(s) = 0.1 |g|, delta = -0.01 g / (0.1 |g| + 1e-8) = [-0.09999998, -0.09999999];
// centered: a = 0.01 g, sqrt(s - a^2) = sqrt(0.0099) |g| = 0.0994987... |g|, delta = -0.1005037... sign(g).
// With momentum, step 1 equals the plain step (b starts at 0). Steps 2 and 3 in plain double arithmetic.
TEST_CASE("rmsprop: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("plain") {
        checkDeltas(threeSteps("rmsprop", 0.01),
                    {row(-0.09999998000000396, -0.09999999000000095), row(-0.03730018537309209, 0.03730018885135199),
                     row(0.08822908532816376, 0.0)});
    }
    SECTION("momentum 0.9") {
        checkDeltas(threeSteps("{kind: rmsprop, momentum: 0.9}", 0.01),
                    {row(-0.09999998000000394, -0.09999999000000097), row(-0.12730016737309566, -0.05269980214864888),
                     row(-0.026341065307622334, -0.04742982193378399)});
    }
    SECTION("centered") {
        checkDeltas(threeSteps("{kind: rmsprop, centered: true}", 0.01),
                    {row(-0.10050376132390501, -0.10050377142491208), row(-0.03761752745194202, 0.03735677035579877),
                     row(0.088262521933478, 0.0)});
    }
    SECTION("centered with momentum 0.9") {
        checkDeltas(threeSteps("{kind: rmsprop, centered: true, momentum: 0.9}", 0.01),
                    {row(-0.10050376132390502, -0.10050377142491207), row(-0.12807091264345655, -0.0530966239266221),
                     row(-0.027001299445632884, -0.04778696153395989)});
    }
    SECTION("alpha 0.5 and a large eps 0.1, added outside the square root") {
        // Step 1: s = 0.5 g^2, delta = -0.1 g / (sqrt(0.5) |g| + 0.1) = -0.05 / 0.45355... = -0.110240...
        checkDeltas(threeSteps("{kind: rmsprop, lr: 0.1, alpha: 0.5, epsilon: 0.1}", 0.1),
                    {row(-0.11024060460577119, -0.12389934309929541), row(-0.05164913995224868, 0.05930703308172537),
                     row(0.1196606020664674, 0.0)});
    }
    SECTION("the learning rate passed by the host's schedule is the one used") {
        checkDeltas(threeSteps("{kind: rmsprop, centered: true, momentum: 0.9}", 0.005),
                    {row(-0.05025188066195251, -0.050251885712456035), row(-0.06403545632172827, -0.02654831196331105),
                     row(-0.013500649722816442, -0.023893480766979946)});
    }
}

TEST_CASE("rmsprop: options and defaults", "[plugins][optimizers]") {
    SECTION("defaults: lr 0.01") {
        auto rmsprop = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "rmsprop"));
        CHECK(rmsprop->learningRate() == 0.01);
    }
    SECTION("bad values are refused") {
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: rmsprop, lr: 0}"), Catch::Contains("lr"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: rmsprop, alpha: 1.5}"), Catch::Contains("alpha"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: rmsprop, epsilon: -1}"), Catch::Contains("epsilon"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: rmsprop, momentum: -0.5}"), Catch::Contains("momentum"));
    }
    SECTION("each slot keeps its own state; a wrong slot or shape is refused") {
        // Slot a: step 1 s = 0.25, b = 2; step 2 s = 0.4375.
        auto run = gradlab::testing::twoSlotSteps("{kind: rmsprop, alpha: 0.75, momentum: 0.5, epsilon: 0}", 1.0f, 4.0f,
                                                  1.0f);
        CHECK(run.deltaA(0, 0) == Approx(-(0.5 * 2.0 + 1.0 / std::sqrt(0.4375))).epsilon(1e-6));
        CHECK(run.deltaB(1, 0) == Approx(-2.0).epsilon(1e-6));
        gradlab::testing::checkWrongSlotRefused(run);
    }
}
