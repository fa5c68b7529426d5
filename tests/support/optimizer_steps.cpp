#include "support/optimizer_steps.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

#include "support/plugin_fixture.hpp"

namespace gradlab::testing {

Matrix<double> row(double a, double b) {
    Matrix<double> m(1, 2);
    m << a, b;
    return m;
}

std::vector<Matrix<double>> threeSteps(const std::string& yaml, double learningRate) {
    auto optimizer = builtinPlugins().makeOptimizer<double>(spec(PluginKind::optimizer, yaml));
    optimizer->attach({ParameterSlot{"layers.0.dense.W", 1, 2}});
    const std::vector<Matrix<double>> grads{row(0.5, 1.0), row(0.2, -0.4), row(-1.0, 0.0)};
    Matrix<double> value = row(1.0, -2.0);
    std::vector<Matrix<double>> deltas;
    for (std::size_t step = 0; step < grads.size(); ++step) {
        Matrix<double> delta = Matrix<double>::Constant(1, 2, 1e9);  // overwritten, not added to
        optimizer->update(0, value, grads[step], learningRate, static_cast<std::int64_t>(step + 1), delta);
        value += delta;
        deltas.push_back(delta);
    }
    return deltas;
}

void checkDeltas(const std::vector<Matrix<double>>& actual, const std::vector<Matrix<double>>& expected,
                 DeltaTolerance tolerance) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t step = 0; step < actual.size(); ++step) {
        INFO("step " << step + 1 << ": got " << actual[step] << ", expected " << expected[step]);
        CHECK(actual[step](0, 0) ==
              Approx(expected[step](0, 0)).epsilon(tolerance.epsilon).margin(tolerance.margin));
        CHECK(actual[step](0, 1) ==
              Approx(expected[step](0, 1)).epsilon(tolerance.epsilon).margin(tolerance.margin));
    }
}

TwoSlotRun twoSlotSteps(const std::string& yaml, float gradientA1, float gradientB, float gradientA2) {
    TwoSlotRun run;
    run.optimizer = builtinPlugins().makeOptimizer<float>(spec(PluginKind::optimizer, yaml));
    run.optimizer->attach({{"a", 1, 1}, {"b", 2, 1}});
    run.valueA = Matrix<float>::Zero(1, 1);
    run.valueB = Matrix<float>::Zero(2, 1);
    run.optimizer->update(0, run.valueA, Matrix<float>::Constant(1, 1, gradientA1), 1.0, 1, run.deltaA);
    run.optimizer->update(1, run.valueB, Matrix<float>::Constant(2, 1, gradientB), 1.0, 1, run.deltaB);
    run.optimizer->update(0, run.valueA, Matrix<float>::Constant(1, 1, gradientA2), 1.0, 2, run.deltaA);
    return run;
}

void checkWrongSlotRefused(TwoSlotRun& run) {
    CHECK_THROWS_WITH(run.optimizer->update(2, run.valueA, run.valueA, 1.0, 1, run.deltaA), Catch::Contains("slot 2"));
    CHECK_THROWS_WITH(run.optimizer->update(1, run.valueA, run.valueA, 1.0, 1, run.deltaA), Catch::Contains("'b'"));
}

}  // namespace gradlab::testing
