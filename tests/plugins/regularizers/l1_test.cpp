#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

TEST_CASE("l1: penalty coefficient sum |W| and gradient coefficient sign(W)", "[plugins][regularizers]") {
    auto l1 = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "{kind: l1, coefficient: 0.1}"));
    Matrix<double> weight(2, 3);
    weight << 1.0, -2.0, 0.0,  //
        3.0, 0.5, -0.25;

    SECTION("hand values, sign(0) = 0") {
        CHECK(l1->penalty(weight) == Approx(0.1 * (1.0 + 2.0 + 0.0 + 3.0 + 0.5 + 0.25)).epsilon(1e-15));
        Matrix<double> grad = Matrix<double>::Ones(2, 3);
        l1->addGradient(weight, grad);  // accumulates into what is there
        Matrix<double> expected(2, 3);
        expected << 1.1, 0.9, 1.0,  //
            1.1, 1.1, 0.9;
        CHECK(grad.isApprox(expected, 1e-15));
    }
    SECTION("gradient matches central finite differences of the penalty away from 0") {
        Matrix<double> away = weight;
        away(0, 2) = 0.75;
        Matrix<double> grad = Matrix<double>::Zero(2, 3);
        l1->addGradient(away, grad);
        for (gradlab::Index i = 0; i < away.size(); ++i) {
            Matrix<double> plus = away, minus = away;
            plus.data()[i] += 1e-6;
            minus.data()[i] -= 1e-6;
            const double numeric = (l1->penalty(plus) - l1->penalty(minus)) / 2e-6;
            CAPTURE(i);
            CHECK(grad.data()[i] == Approx(numeric).epsilon(1e-7));
        }
    }
    SECTION("project leaves the value alone") {
        Matrix<double> projected = weight;
        l1->project(projected);
        CHECK(projected == weight);
    }
    SECTION("float32") {
        auto single = builtinPlugins().makeRegularizer<float>(spec(PluginKind::regularizer, "{kind: l1, coefficient: 0.1}"));
        CHECK(single->penalty(weight.cast<float>()) == Approx(0.675).epsilon(1e-6));
        Matrix<float> grad = Matrix<float>::Zero(2, 3);
        single->addGradient(weight.cast<float>(), grad);
        CHECK(grad(0, 1) == -0.1f);
        CHECK(grad(0, 2) == 0.0f);
    }
}

TEST_CASE("l1: default coefficient 1e-4, negative refused", "[plugins][regularizers]") {
    auto l1 = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "l1"));
    CHECK(l1->penalty(Matrix<double>::Constant(1, 2, -3.0)) == Approx(6e-4).epsilon(1e-15));
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: l1, coefficient: -1}"), Catch::Contains("coefficient"));
}
