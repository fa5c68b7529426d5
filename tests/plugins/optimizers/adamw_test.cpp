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

// torch.optim.AdamW: w <- w (1 - lr wd), then the Adam step (see adam_test.cpp), so that
//   delta = -lr wd w - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps), with w the value before the step.
// g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0], w0 = [1, -2], lr 0.1, wd 0.5. Step 1 by hand: the Adam part is
// -lr g / (|g| + eps) = [-0.099999998, -0.099999999] and the decay -0.1 * 0.5 * [1, -2] = [-0.05, 0.1]:
//   delta1 = [-0.149999998, 0.000000001]. Steps 2 and 3 in plain double arithmetic from the same formulas, with
//   w1 = w0 + delta1 and w2 = w1 + delta2 in the decay term.
TEST_CASE("adamw: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("weight_decay 0.5, lr 0.1: the Adam step plus the decoupled decay -lr wd w") {
        checkDeltas(threeSteps("{kind: adamw, lr: 0.1, weight_decay: 0.5}", 0.1),
                    {row(-0.14999999800000002, 9.999999855958563e-10), row(-0.13235751819707176, 0.06543941561262596),
                     row(-0.01253581333868832, 0.07001259738818977)});
    }
    SECTION("weight_decay 0 is Adam") {
        checkDeltas(threeSteps("{kind: adamw, lr: 0.1, weight_decay: 0}", 0.1),
                    {row(-0.09999999800000003, -0.09999999900000002), row(-0.08985751809707174, -0.03456058433737404),
                     row(0.023346310851458094, -0.026715431781178946)});
    }
    SECTION("the scheduled learning rate scales both the step and the decay") {
        checkDeltas(threeSteps("{kind: adamw, lr: 0.1, weight_decay: 0.5}", 0.05),
                    {row(-0.07499999900000001, 4.999999927979282e-10), row(-0.06805375907353586, 0.03271970781881298),
                     row(-0.009750500622432559, 0.03582429140144021)});
    }
}

TEST_CASE("adamw: options and defaults", "[plugins][optimizers]") {
    SECTION("defaults: lr 1e-3, weight_decay 0.01") {
        auto adamw = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "adamw"));
        CHECK(adamw->learningRate() == 1e-3);
        adamw->attach({{"w", 1, 1}});
        Matrix<double> delta;
        adamw->update(0, Matrix<double>::Constant(1, 1, 2.0), Matrix<double>::Constant(1, 1, -3.0), 1e-3, 1, delta);
        CHECK(delta(0, 0) == Approx(-1e-3 * 0.01 * 2.0 + 1e-3 * 3.0 / (3.0 + 1e-8)).epsilon(1e-14));
    }
    SECTION("a zero gradient still decays the value") {
        auto adamw = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "{kind: adamw, weight_decay: 0.1}"));
        adamw->attach({{"w", 1, 2}});
        Matrix<double> delta;
        adamw->update(0, row(4.0, -1.0), Matrix<double>::Zero(1, 2), 0.5, 1, delta);
        CHECK(delta(0, 0) == Approx(-0.2).epsilon(1e-15));
        CHECK(delta(0, 1) == Approx(0.05).epsilon(1e-15));
    }
    SECTION("bad values are refused") {
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adamw, weight_decay: -0.01}"), Catch::Contains("weight_decay"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adamw, beta1: 1}"), Catch::Contains("beta1"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adamw, lr: -1}"), Catch::Contains("lr"));
    }
    SECTION("a wrong slot or shape is refused") {
        auto adamw = builtinPlugins().makeOptimizer<float>(spec(PluginKind::optimizer, "adamw"));
        adamw->attach({{"a", 1, 1}});
        Matrix<float> delta;
        CHECK_THROWS_WITH(adamw->update(1, Matrix<float>::Zero(1, 1), Matrix<float>::Zero(1, 1), 1.0, 1, delta),
                          Catch::Contains("slot 1"));
        CHECK_THROWS_WITH(adamw->update(0, Matrix<float>::Zero(2, 1), Matrix<float>::Zero(2, 1), 1.0, 1, delta),
                          Catch::Contains("'a'"));
    }
}
