#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

TEST_CASE("weight_clip: every entry is clamped to [-clip, clip]", "[plugins][regularizers]") {
    auto clip = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "{kind: weight_clip, clip: 0.5}"));
    Matrix<double> weight(2, 3);
    weight << 0.7, -0.2, -3.0,  //
        0.5, 0.0, -0.5;

    SECTION("projection") {
        clip->project(weight);
        Matrix<double> expected(2, 3);
        expected << 0.5, -0.2, -0.5,  //
            0.5, 0.0, -0.5;
        CHECK(weight == expected);
    }
    SECTION("no penalty and no gradient") {
        CHECK(clip->penalty(weight) == 0.0);
        Matrix<double> grad = Matrix<double>::Constant(2, 3, -1.0);
        clip->addGradient(weight, grad);
        CHECK(grad == Matrix<double>::Constant(2, 3, -1.0));
    }
    SECTION("float32") {
        auto single = builtinPlugins().makeRegularizer<float>(spec(PluginKind::regularizer, "{kind: weight_clip, clip: 0.5}"));
        Matrix<float> projected = weight.cast<float>();
        single->project(projected);
        CHECK(projected(0, 0) == 0.5f);
        CHECK(projected(0, 2) == -0.5f);
        CHECK(projected(0, 1) == -0.2f);
    }
}

TEST_CASE("weight_clip: default 0.01, non-positive refused", "[plugins][regularizers]") {
    auto clip = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "weight_clip"));
    Matrix<double> weight(1, 3);
    weight << 1.0, -0.005, -1.0;
    clip->project(weight);
    CHECK(weight(0, 0) == 0.01);
    CHECK(weight(0, 1) == -0.005);
    CHECK(weight(0, 2) == -0.01);
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: weight_clip, clip: 0}"), Catch::Contains("clip"));
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: weight_clip, clip: -1}"), Catch::Contains("clip"));
}
