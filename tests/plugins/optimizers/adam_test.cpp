#include <catch2/catch.hpp>

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

// torch.optim.Adam with g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0]:
//   m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, delta = -(lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// Step 1 by hand: m = (1 - b1) g and v = (1 - b2) g^2, so the bias corrections give exactly g and |g|:
//   delta = -lr g / (|g| + eps) = -0.1 * 0.5 / (0.5 + 1e-8) = -0.099999998 and -0.1 / (1 + 1e-8) = -0.099999999.
// Steps 2 and 3 from the same formulas in plain double arithmetic (e.g. step 2, first entry: m = 0.065,
// v = 0.00028975, bias corrections 0.19 and 0.001999, delta = -(0.1 / 0.19) 0.065 / (sqrt(0.00028975 / 0.001999) + 1e-8)).
TEST_CASE("adam: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("defaults (b1 0.9, b2 0.999, eps 1e-8) with lr 0.1: step 1 is -lr sign(g) up to eps") {
        checkDeltas(threeSteps("{kind: adam, lr: 0.1}", 0.1),
                    {row(-0.09999999800000003, -0.09999999900000002), row(-0.08985751809707174, -0.03456058433737404),
                     row(0.023346310851458094, -0.026715431781178946)});
    }
    SECTION("b1 0.5, b2 0.9 and a large eps 0.1, added after the bias correction of v") {
        // Step 1: -0.1 * 0.5 / (0.5 + 0.1) = -0.0833..., -0.1 * 1 / (1 + 0.1) = -0.0909...
        // (eps before the correction would give -0.1 * 0.5 / (0.5 + 0.1 / sqrt(0.1)) = -0.0612...).
        checkDeltas(threeSteps("{kind: adam, lr: 0.1, beta1: 0.5, beta2: 0.9, epsilon: 0.1}", 0.1),
                    {row(-0.08333333333333334, -0.09090909090909091), row(-0.06336309012003312, -0.007871627780778373),
                     row(0.05706731188210774, -0.004120953872586377)});
    }
    SECTION("the learning rate passed by the host's schedule is the one used") {
        checkDeltas(threeSteps("{kind: adam, lr: 0.1}", 0.05),
                    {row(-0.04999999900000002, -0.04999999950000001), row(-0.04492875904853587, -0.01728029216868702),
                     row(0.011673155425729047, -0.013357715890589473)});
    }
}

TEST_CASE("adam: options, defaults and per-slot state", "[plugins][optimizers]") {
    SECTION("defaults") {
        auto adam = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "adam"));
        CHECK(adam->learningRate() == 1e-3);
        adam->attach({{"w", 1, 1}});
        Matrix<double> delta;
        adam->update(0, Matrix<double>::Zero(1, 1), Matrix<double>::Constant(1, 1, -3.0), 1e-3, 1, delta);
        CHECK(delta(0, 0) == Approx(1e-3 * 3.0 / (3.0 + 1e-8)).epsilon(1e-14));
    }
    SECTION("bad values are refused") {
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adam, lr: 0}"), Catch::Contains("lr"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adam, beta1: 1}"), Catch::Contains("beta1"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adam, beta2: -0.1}"), Catch::Contains("beta2"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adam, epsilon: -1e-8}"), Catch::Contains("epsilon"));
    }
    SECTION("each slot keeps its own moments; a wrong slot or shape is refused") {
        auto run = gradlab::testing::twoSlotSteps("{kind: adam, lr: 1}", 1.0f, 4.0f, 1.0f);
        CHECK(run.deltaA(0, 0) == Approx(-1.0).epsilon(1e-6));  // a constant gradient keeps |delta| = lr
        CHECK(run.deltaB(1, 0) == Approx(-1.0).epsilon(1e-6));
        gradlab::testing::checkWrongSlotRefused(run);
    }
}
