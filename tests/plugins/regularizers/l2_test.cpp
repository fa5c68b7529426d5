#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

TEST_CASE("l2: penalty coefficient ||W||^2 and gradient 2 coefficient W", "[plugins][regularizers]") {
    auto l2 = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "{kind: l2, coefficient: 0.1}"));
    Matrix<double> weight(2, 2);
    weight << 1.0, -2.0, 3.0, 0.5;

    SECTION("hand values") {
        CHECK(l2->penalty(weight) == Approx(0.1 * (1.0 + 4.0 + 9.0 + 0.25)).epsilon(1e-15));
        Matrix<double> grad = Matrix<double>::Ones(2, 2);
        l2->addGradient(weight, grad);  // accumulates into what is there
        Matrix<double> expected(2, 2);
        expected << 1.2, 0.6, 1.6, 1.1;
        CHECK(grad.isApprox(expected, 1e-15));
    }
    SECTION("gradient matches central finite differences of the penalty") {
        Matrix<double> grad = Matrix<double>::Zero(2, 2);
        l2->addGradient(weight, grad);
        for (gradlab::Index i = 0; i < weight.size(); ++i) {
            Matrix<double> plus = weight, minus = weight;
            plus.data()[i] += 1e-6;
            minus.data()[i] -= 1e-6;
            const double numeric = (l2->penalty(plus) - l2->penalty(minus)) / 2e-6;
            CHECK(grad.data()[i] == Approx(numeric).epsilon(1e-7));
        }
    }
    SECTION("project leaves the value alone") {
        Matrix<double> projected = weight;
        l2->project(projected);
        CHECK(projected == weight);
    }
    SECTION("float32") {
        auto single = builtinPlugins().makeRegularizer<float>(spec(PluginKind::regularizer, "{kind: l2, coefficient: 0.1}"));
        CHECK(single->penalty(weight.cast<float>()) == Approx(1.425).epsilon(1e-6));
    }
}

TEST_CASE("l2: default coefficient 1e-4, negative refused", "[plugins][regularizers]") {
    auto l2 = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "l2"));
    CHECK(l2->penalty(Matrix<double>::Constant(1, 1, 3.0)) == Approx(9e-4).epsilon(1e-15));
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: l2, coefficient: -1}"), Catch::Contains("coefficient"));
}
