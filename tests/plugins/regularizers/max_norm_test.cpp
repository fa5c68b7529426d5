#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

TEST_CASE("max_norm: rows above the limit are scaled onto it, the others untouched", "[plugins][regularizers]") {
    auto maxNorm = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "{kind: max_norm, max_norm: 2}"));
    // W [3 units x 2 inputs]: row norms 5, 1, 2 (exactly at the limit).
    Matrix<double> weight(3, 2);
    weight << 3.0, -4.0,  //
        0.6, 0.8,         //
        0.0, -2.0;

    SECTION("projection") {
        Matrix<double> projected = weight;
        maxNorm->project(projected);
        Matrix<double> expected(3, 2);
        expected << 1.2, -1.6,  //
            0.6, 0.8,           //
            0.0, -2.0;
        CHECK(projected.isApprox(expected, 1e-15));
        CHECK(projected.row(0).norm() == Approx(2.0).epsilon(1e-15));
        CHECK(projected.row(1) == weight.row(1));
        CHECK(projected.row(2) == weight.row(2));
    }
    SECTION("rows, not columns: a column above the limit whose rows are inside is left alone") {
        Matrix<double> tall = Matrix<double>::Constant(9, 1, 1.5);  // column norm 4.5, each row norm 1.5
        Matrix<double> projected = tall;
        maxNorm->project(projected);
        CHECK(projected == tall);
    }
    SECTION("no penalty and no gradient") {
        CHECK(maxNorm->penalty(weight) == 0.0);
        Matrix<double> grad = Matrix<double>::Constant(3, 2, 0.5);
        maxNorm->addGradient(weight, grad);
        CHECK(grad == Matrix<double>::Constant(3, 2, 0.5));
    }
    SECTION("float32") {
        auto single = builtinPlugins().makeRegularizer<float>(spec(PluginKind::regularizer, "{kind: max_norm, max_norm: 2}"));
        Matrix<float> projected = weight.cast<float>();
        single->project(projected);
        CHECK(projected(0, 0) == Approx(1.2).epsilon(1e-6));
        CHECK(projected(0, 1) == Approx(-1.6).epsilon(1e-6));
    }
}

TEST_CASE("max_norm: default 3, non-positive refused", "[plugins][regularizers]") {
    auto maxNorm = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "max_norm"));
    Matrix<double> weight(2, 2);
    weight << 6.0, 8.0,  //
        1.0, 2.0;
    maxNorm->project(weight);
    CHECK(weight(0, 0) == Approx(1.8).epsilon(1e-15));
    CHECK(weight(0, 1) == Approx(2.4).epsilon(1e-15));
    CHECK(weight(1, 1) == 2.0);
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: max_norm, max_norm: 0}"), Catch::Contains("max_norm"));
}
