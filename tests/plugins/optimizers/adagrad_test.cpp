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

// torch.optim.Adagrad (lr_decay 0) with g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0]:
//   s = s + g^2 (s starts at initial_accumulator), delta = -lr g / (sqrt(s) + eps).
// Default accumulator 0, lr 0.1, eps 1e-10, by hand: step 1 -0.1 g / (|g| + 1e-10) = [-0.09999999998, -0.09999999999];
// step 2, s = [0.29, 1.16]: delta = [-0.02 / sqrt(0.29), 0.04 / sqrt(1.16)] = [-0.0371390676..., 0.0371390676...];
// step 3, s = [1.29, 1.16]: delta = [0.1 / sqrt(1.29), 0] = [0.0880450906..., 0].
TEST_CASE("adagrad: three hand-computed steps", "[plugins][optimizers]") {
    SECTION("defaults with lr 0.1") {
        checkDeltas(threeSteps("{kind: adagrad, lr: 0.1}", 0.1),
                    {row(-0.09999999998, -0.09999999999), row(-0.03713906762851382, 0.0371390676319621),
                     row(0.08804509062481046, 0.0)});
    }
    SECTION("initial_accumulator 0.5 and eps 0.1") {
        // Step 1: s = [0.75, 1.5], delta = [-0.05 / (sqrt(0.75) + 0.1), -0.1 / (sqrt(1.5) + 0.1)].
        checkDeltas(threeSteps("{kind: adagrad, lr: 0.1, initial_accumulator: 0.5, epsilon: 0.1}", 0.1),
                    {row(-0.05175847322867829, -0.07548623297930128), row(-0.020226139531578438, 0.028809936307212427),
                     row(0.06954543910258232, 0.0)});
    }
    SECTION("the learning rate passed by the host's schedule is the one used") {
        checkDeltas(threeSteps("{kind: adagrad, lr: 0.1}", 0.05),
                    {row(-0.04999999999, -0.049999999995), row(-0.01856953381425691, 0.01856953381598105),
                     row(0.04402254531240523, 0.0)});
    }
}

TEST_CASE("adagrad: options and defaults", "[plugins][optimizers]") {
    SECTION("defaults: lr 0.01") {
        auto adagrad = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, "adagrad"));
        CHECK(adagrad->learningRate() == 0.01);
    }
    SECTION("bad values are refused") {
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adagrad, lr: 0}"), Catch::Contains("lr"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adagrad, epsilon: -1}"), Catch::Contains("epsilon"));
        CHECK_THROWS_WITH(spec(PluginKind::optimizer, "{kind: adagrad, initial_accumulator: -0.1}"),
                          Catch::Contains("initial_accumulator"));
    }
    SECTION("each slot keeps its own sum; a wrong slot or shape is refused") {
        auto run = gradlab::testing::twoSlotSteps("{kind: adagrad, epsilon: 0}", 3.0f, 4.0f, 4.0f);  // s = 9 + 16
        CHECK(run.deltaA(0, 0) == Approx(-0.8).epsilon(1e-6));
        CHECK(run.deltaB(1, 0) == Approx(-1.0).epsilon(1e-6));
        gradlab::testing::checkWrongSlotRefused(run);
    }
}
