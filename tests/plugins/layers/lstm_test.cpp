#include <catch2/catch.hpp>

#include <Eigen/SVD>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/random.hpp"
#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"
#include "support/sequence_conformance.hpp"

using gradlab::Index;
using gradlab::Matrix;
using gradlab::Phase;
using gradlab::PluginKind;
using gradlab::Shape;
using gradlab::testing::makeLayer;
using gradlab::testing::parameterNames;
using gradlab::testing::sigmoid;
using gradlab::testing::spec;
using Catch::Matchers::Contains;

namespace {

/// The LSTM cell written plainly, gate by gate, with the state s = [h; c].
gradlab::testing::ReferenceCell lstmCell(Index units) {
    gradlab::testing::ReferenceCell cell;
    cell.units = units;
    cell.stateRows = 2 * units;
    cell.step = [units](const gradlab::testing::ParameterValues& p, const Matrix<double>& x,
                        const Matrix<double>& state, Matrix<double>& next) {
        const Index H = units;
        const Matrix<double> h = state.topRows(H), c = state.bottomRows(H);
        auto preActivation = [&](int block, const char* gate) {
            Matrix<double> a = p.at("W_x").middleRows(block * H, H) * x + p.at(std::string("W_h") + gate) * h;
            a.colwise() += p.at(std::string("b_") + gate).col(0);
            return a;
        };
        const Eigen::ArrayXXd i = sigmoid(preActivation(0, "i"));
        const Eigen::ArrayXXd f = sigmoid(preActivation(1, "f"));
        const Eigen::ArrayXXd g = preActivation(2, "g").array().tanh();
        const Eigen::ArrayXXd o = sigmoid(preActivation(3, "o"));
        const Eigen::ArrayXXd cell = f * c.array() + i * g;
        next.resize(2 * H, x.cols());
        next.topRows(H) = (o * cell.tanh()).matrix();
        next.bottomRows(H) = cell.matrix();
    };
    return cell;
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("{kind: lstm, units: 3}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: lstm, units: 3, return_sequences: true}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: lstm, units: 2, forget_bias: 0.5, return_sequences: true}", Shape{3, 3})
GRADLAB_LAYER_CONFORMANCE("{kind: lstm, units: 4}", Shape{3, 1})
// truncate >= T is full BPTT, so the full-loss finite differences of the generic test apply.
GRADLAB_LAYER_CONFORMANCE("{kind: lstm, units: 2, truncate: 6}", Shape{2, 5})

TEST_CASE("lstm: BPTT matches a reference cell, full and truncated, last-step and all-step losses",
          "[plugins][layers][lstm]") {
    using gradlab::testing::checkAgainstReference;
    SECTION("full BPTT, last step") { checkAgainstReference("{kind: lstm, units: 3}", lstmCell(3), Shape{2, 6}, 0); }
    SECTION("full BPTT, every step") {
        checkAgainstReference("{kind: lstm, units: 3, return_sequences: true}", lstmCell(3), Shape{2, 6}, 0);
    }
    SECTION("truncated k = 2, last step (h and c both cut)") {
        checkAgainstReference("{kind: lstm, units: 3, truncate: 2}", lstmCell(3), Shape{2, 7}, 2);
    }
    SECTION("truncated k = 3, every step (the last chunk is shorter)") {
        checkAgainstReference("{kind: lstm, units: 2, truncate: 3, return_sequences: true}", lstmCell(2),
                              Shape{3, 7}, 3);
    }
}

TEST_CASE("lstm: stacks chain through time (lstm -> gru -> dense)", "[plugins][layers][lstm]") {
    gradlab::testing::checkStackGradients(
        {"{kind: lstm, units: 3, return_sequences: true}", "{kind: gru, units: 2}", "{kind: dense, units: 2}"},
        Shape{2, 4});
    gradlab::testing::checkStackGradients({"{kind: lstm, units: 3, return_sequences: true}",
                                           "{kind: gru, units: 2, return_sequences: true}",
                                           "{kind: dense, units: 1, activation: tanh}"},
                                          Shape{2, 4});
}

TEST_CASE("lstm: parameters, names, shapes and default initializers", "[plugins][layers][lstm]") {
    auto lstm = makeLayer("{kind: lstm, units: 3, forget_bias: 2.5}");
    CHECK(lstm->build(Shape{2, 5}) == Shape{3, 1});
    CHECK(parameterNames(*lstm) ==
          std::vector<std::string>{"W_x", "W_hi", "W_hf", "W_hg", "W_ho", "b_i", "b_f", "b_g", "b_o"});
    const auto& input = lstm->param("W_x");
    CHECK(input.value.rows() == 12);
    CHECK(input.value.cols() == 2);
    CHECK(input.init.initializer == "glorot_uniform");
    CHECK(input.init.fanIn == 2);
    CHECK(input.init.fanOut == 12);
    CHECK(input.init.isWeight);
    for (const char* gate : {"i", "f", "g", "o"}) {
        CAPTURE(gate);
        const auto& recurrent = lstm->param(std::string("W_h") + gate);
        CHECK(recurrent.value.rows() == 3);
        CHECK(recurrent.value.cols() == 3);
        CHECK(recurrent.init.initializer == "orthogonal");
        CHECK(recurrent.init.isWeight);
        const auto& bias = lstm->param(std::string("b_") + gate);
        CHECK(bias.value.rows() == 3);
        CHECK(bias.value.cols() == 1);
        CHECK_FALSE(bias.init.isWeight);
    }
    CHECK(lstm->param("b_i").init.initializer == "zeros");
    // forget_bias is a typed default: the exact double, no text in between.
    CHECK(lstm->param("b_f").init.initializer == gradlab::InitializerSpec::constant(2.5));

    gradlab::Random random(3);
    gradlab::testing::initializeParameters(*lstm, random);
    CHECK(lstm->param("b_f").value == Matrix<double>::Constant(3, 1, 2.5));
    CHECK(lstm->param("b_i").value.isZero(0.0));
    for (const char* gate : {"i", "f", "g", "o"}) {
        const Matrix<double>& recurrent = lstm->param(std::string("W_h") + gate).value;
        CAPTURE(gate, recurrent);
        CHECK((recurrent.transpose() * recurrent).isIdentity(1e-12));  // orthogonal per gate
    }

    auto defaults = makeLayer("{kind: lstm, units: 2, return_sequences: true}");
    CHECK(defaults->build(Shape{4, 6}) == Shape{2, 6});
    gradlab::testing::initializeParameters(*defaults, random);
    CHECK(defaults->param("b_f").value == Matrix<double>::Ones(2, 1));  // forget_bias defaults to 1

    // A forget_bias that needs all 17 significant digits arrives exactly: the default is a typed value.
    auto exact = makeLayer("{kind: lstm, units: 2, forget_bias: 0.30000000000000004}");
    exact->build(Shape{1, 2});
    gradlab::testing::initializeParameters(*exact, random);
    CHECK(exact->param("b_f").value == Matrix<double>::Constant(2, 1, 0.30000000000000004));
    CHECK(exact->param("b_f").value != Matrix<double>::Constant(2, 1, 0.3));
}

TEST_CASE("lstm: known values and gate means with zero weights", "[plugins][layers][lstm]") {
    // W = 0, b_i = b_f = b_o = 0 (gates 1/2), tanh(b_g) = 0.8: c_t = c_{t-1} / 2 + 0.4 -> 0.4, 0.6, 0.7;
    // h_t = tanh(c_t) / 2.
    auto lstm = makeLayer("{kind: lstm, units: 1, return_sequences: true}");
    lstm->build(Shape{2, 3});
    lstm->param("b_g").value(0, 0) = std::atanh(0.8);
    lstm->setTracing(true);
    Matrix<double> x = Matrix<double>::Random(2, 3), y;
    lstm->forward(x, y, Phase::train);
    REQUIRE(y.cols() == 3);
    CHECK(y(0, 0) == Approx(0.5 * std::tanh(0.4)));
    CHECK(y(0, 1) == Approx(0.5 * std::tanh(0.6)));
    CHECK(y(0, 2) == Approx(0.5 * std::tanh(0.7)));
    gradlab::testing::StatisticsRecorder recorder;
    lstm->statistics(recorder);
    CHECK(recorder.series.at("input_gate_mean") == std::vector<double>{0.5});
    CHECK(recorder.series.at("forget_gate_mean") == std::vector<double>{0.5});
    CHECK(recorder.series.at("cell_gate_mean")[0] == Approx(0.8));
    CHECK(recorder.series.at("output_gate_mean") == std::vector<double>{0.5});
}

TEST_CASE("lstm: statistics of a traced step", "[plugins][layers][lstm]") {
    const Index units = 4, batch = 3, timesteps = 5;
    auto lstm = makeLayer("{kind: lstm, units: 4, truncate: 2}");
    lstm->build(Shape{3, timesteps});
    gradlab::Random random(5);
    std::vector<gradlab::NamedParameter<double>> parameters;
    lstm->collectParameters("", parameters);
    for (auto& named : parameters)
        for (Index i = 0; i < named.parameter->value.size(); ++i)
            named.parameter->value.data()[i] = random.normal();
    Matrix<double> x = Matrix<double>::Random(3, batch * timesteps), y, dy = Matrix<double>::Random(units, batch);
    lstm->setTracing(true);
    for (int step = 0; step < 4; ++step) {
        lstm->forward(x, y, Phase::train);
        lstm->backward(x, y, dy, nullptr);
    }
    gradlab::testing::StatisticsRecorder recorder;
    lstm->statistics(recorder);

    SECTION("gate means: sigmoid gates in [0, 1], the cell gate in [-1, 1]") {
        for (const char* name : {"input_gate_mean", "forget_gate_mean", "output_gate_mean"}) {
            CAPTURE(name);
            REQUIRE(recorder.series.at(name).size() == 1);
            CHECK(recorder.series.at(name)[0] > 0.0);
            CHECK(recorder.series.at(name)[0] < 1.0);
        }
        CHECK(std::abs(recorder.series.at("cell_gate_mean").at(0)) < 1.0);
    }
    SECTION("recurrent_spectral_norm: one per gate block i, f, g, o, as Eigen's SVD") {
        const std::vector<double>& norms = recorder.series.at("recurrent_spectral_norm");
        REQUIRE(norms.size() == 4);
        const char* gates[] = {"i", "f", "g", "o"};
        for (int gate = 0; gate < 4; ++gate) {
            const Matrix<double>& recurrent = lstm->param(std::string("W_h") + gates[gate]).value;
            CAPTURE(gates[gate]);
            CHECK(norms[static_cast<std::size_t>(gate)] ==
                  Approx(Eigen::JacobiSVD<Matrix<double>>(recurrent).singularValues()(0)).epsilon(1e-8));
        }
    }
    SECTION("timestep_grad_norm: ||dy|| at the last step, zero before the last chunk [4, 5)") {
        const std::vector<double>& norms = recorder.series.at("timestep_grad_norm");
        REQUIRE(norms.size() == 5);
        CHECK(norms[4] == Approx(dy.norm()));
        for (int t = 0; t < 4; ++t) CHECK(norms[static_cast<std::size_t>(t)] == 0.0);
    }
}

TEST_CASE("lstm: timestep_grad_norm with full BPTT is the norm of dL/dh_t", "[plugins][layers][lstm]") {
    // With truncate: 1 and every step in the loss, dL/dh_t is exactly dy_t; with full BPTT it differs.
    const Index units = 3, batch = 2, timesteps = 4;
    for (int truncate : {1, 0}) {
        auto lstm = makeLayer("{kind: lstm, units: 3, return_sequences: true, truncate: " + std::to_string(truncate) +
                              "}");
        lstm->build(Shape{2, timesteps});
        gradlab::Random random(9);
        gradlab::testing::initializeParameters(*lstm, random);
        Matrix<double> x = Matrix<double>::Random(2, batch * timesteps), y;
        Matrix<double> dy = Matrix<double>::Random(units, batch * timesteps);
        lstm->setTracing(true);
        lstm->forward(x, y, Phase::train);
        lstm->backward(x, y, dy, nullptr);
        gradlab::testing::StatisticsRecorder recorder;
        lstm->statistics(recorder);
        const std::vector<double>& norms = recorder.series.at("timestep_grad_norm");
        CAPTURE(truncate, norms);
        CHECK(norms[3] == Approx(dy.rightCols(batch).norm()));
        for (Index t = 0; t < 3; ++t) {
            const double own = dy.middleCols(t * batch, batch).norm();
            if (truncate == 1)
                CHECK(norms[static_cast<std::size_t>(t)] == Approx(own));
            else
                CHECK(norms[static_cast<std::size_t>(t)] != Approx(own));
        }
    }
}

TEST_CASE("lstm: bad options and inputs are refused with clear messages", "[plugins][layers][lstm]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: lstm}"), Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: lstm, units: 2, truncate: -3}"), Contains("truncate"));
    auto lstm = makeLayer("{kind: lstm, units: 2}");
    lstm->build(Shape{3, 4});
    Matrix<double> y;
    CHECK_THROWS_WITH(lstm->forward(Matrix<double>::Ones(2, 8), y, Phase::train),
                      Contains("3 input features") && Contains("2 rows"));
    CHECK_THROWS_WITH(lstm->forward(Matrix<double>::Ones(3, 7), y, Phase::train), Contains("4 timesteps"));
}

#ifdef _OPENMP
#include <omp.h>

TEST_CASE("lstm: the batch split across threads gives the one-thread results", "[plugins][layers][lstm]") {
    // 20 samples: two shares of 10 with two threads (a share has at least 8), one with one thread.
    const Index batch = 20, timesteps = 5, units = 3;
    struct Result {
        Matrix<double> y, dx;
        std::vector<Matrix<double>> grads;
        std::vector<double> stepNorms;
    };
    auto run = [&](int threads) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        auto lstm = makeLayer("{kind: lstm, units: 3, truncate: 2, return_sequences: true}");
        lstm->build(Shape{2, timesteps});
        gradlab::Random random(5);
        gradlab::testing::initializeParameters(*lstm, random);
        gradlab::Random data(8);
        Matrix<double> x(2, batch * timesteps), dy(units, batch * timesteps);
        for (Index i = 0; i < x.size(); ++i) x(i) = data.normal();
        for (Index i = 0; i < dy.size(); ++i) dy(i) = data.normal();
        Result result;
        lstm->setTracing(true);
        lstm->forward(x, result.y, Phase::train);
        lstm->backward(x, result.y, dy, &result.dx);
        gradlab::testing::StatisticsRecorder recorder;
        lstm->statistics(recorder);
        result.stepNorms = recorder.series.at("timestep_grad_norm");
        for (const auto& name : parameterNames(*lstm)) result.grads.push_back(lstm->param(name).grad);
        // A second backward after one forward would read gradients as gates: refused.
        Matrix<double> again;
        CHECK_THROWS_WITH(lstm->backward(x, result.y, dy, &again), Contains("run forward again"));
        omp_set_num_threads(saved);
        return result;
    };
    const Result one = run(1), two = run(2);
    CHECK(one.y.isApprox(two.y, 1e-13));
    CHECK(one.dx.isApprox(two.dx, 1e-13));
    REQUIRE(one.grads.size() == two.grads.size());
    for (std::size_t i = 0; i < one.grads.size(); ++i) CHECK(one.grads[i].isApprox(two.grads[i], 1e-13));
    REQUIRE(one.stepNorms.size() == static_cast<std::size_t>(timesteps));
    for (std::size_t t = 0; t < one.stepNorms.size(); ++t) CHECK(one.stepNorms[t] == Approx(two.stepNorms[t]).epsilon(1e-13));
}
#endif
