#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

TEST_CASE("elastic_net: penalty l1 sum |W| + l2 ||W||^2 and gradient l1 sign(W) + 2 l2 W", "[plugins][regularizers]") {
    auto net = builtinPlugins().makeRegularizer<double>(
        spec(PluginKind::regularizer, "{kind: elastic_net, l1: 0.1, l2: 0.01}"));
    Matrix<double> weight(2, 2);
    weight << 1.0, -2.0,  //
        0.0, 0.5;

    SECTION("hand values") {
        // sum |W| = 3.5, ||W||^2 = 1 + 4 + 0 + 0.25 = 5.25: 0.35 + 0.0525.
        CHECK(net->penalty(weight) == Approx(0.4025).epsilon(1e-15));
        Matrix<double> grad = Matrix<double>::Ones(2, 2);
        net->addGradient(weight, grad);  // accumulates: 1 + 0.1 sign(w) + 0.02 w
        Matrix<double> expected(2, 2);
        expected << 1.12, 0.86,  //
            1.0, 1.11;
        CHECK(grad.isApprox(expected, 1e-15));
    }
    SECTION("gradient matches central finite differences of the penalty away from 0") {
        Matrix<double> away = weight;
        away(1, 0) = -0.3;
        Matrix<double> grad = Matrix<double>::Zero(2, 2);
        net->addGradient(away, grad);
        for (gradlab::Index i = 0; i < away.size(); ++i) {
            Matrix<double> plus = away, minus = away;
            plus.data()[i] += 1e-6;
            minus.data()[i] -= 1e-6;
            const double numeric = (net->penalty(plus) - net->penalty(minus)) / 2e-6;
            CAPTURE(i);
            CHECK(grad.data()[i] == Approx(numeric).epsilon(1e-7));
        }
    }
    SECTION("l1 0 is the l2 regularizer and l2 0 is the l1 regularizer") {
        auto l2 = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "{kind: l2, coefficient: 0.01}"));
        auto onlyL2 = builtinPlugins().makeRegularizer<double>(
            spec(PluginKind::regularizer, "{kind: elastic_net, l1: 0, l2: 0.01}"));
        CHECK(onlyL2->penalty(weight) == Approx(l2->penalty(weight)).epsilon(1e-15));
        auto onlyL1 = builtinPlugins().makeRegularizer<double>(
            spec(PluginKind::regularizer, "{kind: elastic_net, l1: 0.1, l2: 0}"));
        CHECK(onlyL1->penalty(weight) == Approx(0.35).epsilon(1e-15));
    }
    SECTION("project leaves the value alone") {
        Matrix<double> projected = weight;
        net->project(projected);
        CHECK(projected == weight);
    }
}

TEST_CASE("elastic_net: defaults 1e-4 each, negatives refused", "[plugins][regularizers]") {
    auto net = builtinPlugins().makeRegularizer<double>(spec(PluginKind::regularizer, "elastic_net"));
    CHECK(net->penalty(Matrix<double>::Constant(1, 1, -3.0)) == Approx(3e-4 + 9e-4).epsilon(1e-15));
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: elastic_net, l1: -1}"), Catch::Contains("l1"));
    CHECK_THROWS_WITH(spec(PluginKind::regularizer, "{kind: elastic_net, l2: -1}"), Catch::Contains("l2"));
}
