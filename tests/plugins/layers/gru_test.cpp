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

/// The GRU cell written plainly, as in PyTorch's nn.GRU documentation.
gradlab::testing::ReferenceCell gruCell(Index units) {
    gradlab::testing::ReferenceCell cell;
    cell.units = units;
    cell.stateRows = units;
    cell.step = [units](const gradlab::testing::ParameterValues& p, const Matrix<double>& x, const Matrix<double>& h,
                        Matrix<double>& next) {
        const Index H = units;
        Matrix<double> ar = p.at("W_x").middleRows(0, H) * x + p.at("W_hr") * h;
        ar.colwise() += p.at("b_r").col(0);
        Matrix<double> az = p.at("W_x").middleRows(H, H) * x + p.at("W_hz") * h;
        az.colwise() += p.at("b_z").col(0);
        Matrix<double> an = p.at("W_x").middleRows(2 * H, H) * x;
        an.colwise() += p.at("b_n").col(0);
        Matrix<double> hn = p.at("W_hn") * h;
        hn.colwise() += p.at("b_hn").col(0);
        const Eigen::ArrayXXd r = sigmoid(ar), z = sigmoid(az);
        const Eigen::ArrayXXd n = (an.array() + r * hn.array()).tanh();
        next = ((1.0 - z) * n + z * h.array()).matrix();
    };
    return cell;
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("{kind: gru, units: 3}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: gru, units: 3, return_sequences: true}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: gru, units: 2, return_sequences: true}", Shape{4, 3})
GRADLAB_LAYER_CONFORMANCE("{kind: gru, units: 4}", Shape{3, 1})
// truncate >= T is full BPTT, so the full-loss finite differences of the generic test apply.
GRADLAB_LAYER_CONFORMANCE("{kind: gru, units: 2, truncate: 5}", Shape{2, 5})

TEST_CASE("gru: BPTT matches a reference cell, full and truncated, last-step and all-step losses",
          "[plugins][layers][gru]") {
    using gradlab::testing::checkAgainstReference;
    SECTION("full BPTT, last step") { checkAgainstReference("{kind: gru, units: 3}", gruCell(3), Shape{2, 6}, 0); }
    SECTION("full BPTT, every step") {
        checkAgainstReference("{kind: gru, units: 3, return_sequences: true}", gruCell(3), Shape{2, 6}, 0);
    }
    SECTION("truncated k = 2, last step (the z path and the W_h path both cut)") {
        checkAgainstReference("{kind: gru, units: 3, truncate: 2}", gruCell(3), Shape{2, 7}, 2);
    }
    SECTION("truncated k = 3, every step (the last chunk is shorter)") {
        checkAgainstReference("{kind: gru, units: 2, truncate: 3, return_sequences: true}", gruCell(2), Shape{3, 7},
                              3);
    }
}

TEST_CASE("gru: stacks chain through time (gru -> lstm -> dense, gru -> gru)", "[plugins][layers][gru]") {
    gradlab::testing::checkStackGradients(
        {"{kind: gru, units: 3, return_sequences: true}", "{kind: lstm, units: 2}", "{kind: dense, units: 2}"},
        Shape{2, 4});
    gradlab::testing::checkStackGradients(
        {"{kind: gru, units: 2, return_sequences: true}", "{kind: gru, units: 3, return_sequences: true}"},
        Shape{3, 3});
}

TEST_CASE("gru: parameters, names, shapes and default initializers", "[plugins][layers][gru]") {
    auto gru = makeLayer("{kind: gru, units: 3}");
    CHECK(gru->build(Shape{2, 5}) == Shape{3, 1});
    CHECK(parameterNames(*gru) == std::vector<std::string>{"W_x", "W_hr", "W_hz", "W_hn", "b_r", "b_z", "b_n", "b_hn"});
    const auto& input = gru->param("W_x");
    CHECK(input.value.rows() == 9);
    CHECK(input.value.cols() == 2);
    CHECK(input.init.initializer == "glorot_uniform");
    CHECK(input.init.fanIn == 2);
    CHECK(input.init.fanOut == 9);
    CHECK(input.init.isWeight);
    for (const char* gate : {"r", "z", "n"}) {
        CAPTURE(gate);
        const auto& recurrent = gru->param(std::string("W_h") + gate);
        CHECK(recurrent.value.rows() == 3);
        CHECK(recurrent.value.cols() == 3);
        CHECK(recurrent.init.initializer == "orthogonal");
        CHECK(recurrent.init.isWeight);
    }
    for (const char* bias : {"b_r", "b_z", "b_n", "b_hn"}) {
        CAPTURE(bias);
        CHECK(gru->param(bias).value.rows() == 3);
        CHECK(gru->param(bias).value.cols() == 1);
        CHECK(gru->param(bias).init.initializer == "zeros");
        CHECK_FALSE(gru->param(bias).init.isWeight);
    }
    auto sequences = makeLayer("{kind: gru, units: 2, return_sequences: true}");
    CHECK(sequences->build(Shape{4, 6}) == Shape{2, 6});
}

TEST_CASE("gru: known values with zero weights, b_hn sits inside the reset product", "[plugins][layers][gru]") {
    // W = 0, b_r = b_z = 0 (r = z = 1/2), b_hn = 1 and b_n = atanh(0.8) - 1/2, so n = tanh(b_n + r b_hn) = 0.8:
    // h_t = n / 2 + h_{t-1} / 2 -> 0.4, 0.6, 0.7.
    auto gru = makeLayer("{kind: gru, units: 1, return_sequences: true}");
    gru->build(Shape{2, 3});
    gru->param("b_hn").value(0, 0) = 1.0;
    gru->param("b_n").value(0, 0) = std::atanh(0.8) - 0.5;
    gru->setTracing(true);
    Matrix<double> x = Matrix<double>::Random(2, 3), y;
    gru->forward(x, y, Phase::train);
    REQUIRE(y.cols() == 3);
    CHECK(y(0, 0) == Approx(0.4));
    CHECK(y(0, 1) == Approx(0.6));
    CHECK(y(0, 2) == Approx(0.7));
    gradlab::testing::StatisticsRecorder recorder;
    gru->statistics(recorder);
    CHECK(recorder.series.at("reset_gate_mean") == std::vector<double>{0.5});
    CHECK(recorder.series.at("update_gate_mean") == std::vector<double>{0.5});
}

TEST_CASE("gru: statistics of a traced step", "[plugins][layers][gru]") {
    const Index units = 4, batch = 3, timesteps = 6;
    auto gru = makeLayer("{kind: gru, units: 4, truncate: 4}");
    gru->build(Shape{3, timesteps});
    gradlab::Random random(13);
    std::vector<gradlab::NamedParameter<double>> parameters;
    gru->collectParameters("", parameters);
    for (auto& named : parameters)
        for (Index i = 0; i < named.parameter->value.size(); ++i)
            named.parameter->value.data()[i] = random.normal();
    Matrix<double> x = Matrix<double>::Random(3, batch * timesteps), y, dy = Matrix<double>::Random(units, batch);
    gru->setTracing(true);
    for (int step = 0; step < 4; ++step) {
        gru->forward(x, y, Phase::train);
        gru->backward(x, y, dy, nullptr);
    }
    gradlab::testing::StatisticsRecorder recorder;
    gru->statistics(recorder);

    SECTION("gate means in [0, 1]") {
        for (const char* name : {"reset_gate_mean", "update_gate_mean"}) {
            CAPTURE(name);
            REQUIRE(recorder.series.at(name).size() == 1);
            CHECK(recorder.series.at(name)[0] > 0.0);
            CHECK(recorder.series.at(name)[0] < 1.0);
        }
    }
    SECTION("recurrent_spectral_norm: one per gate block r, z, n, as Eigen's SVD") {
        const std::vector<double>& norms = recorder.series.at("recurrent_spectral_norm");
        REQUIRE(norms.size() == 3);
        const char* gates[] = {"r", "z", "n"};
        for (int gate = 0; gate < 3; ++gate) {
            const Matrix<double>& recurrent = gru->param(std::string("W_h") + gates[gate]).value;
            CAPTURE(gates[gate]);
            CHECK(norms[static_cast<std::size_t>(gate)] ==
                  Approx(Eigen::JacobiSVD<Matrix<double>>(recurrent).singularValues()(0)).epsilon(1e-8));
        }
    }
    SECTION("timestep_grad_norm: ||dy|| at the last step, nonzero in the last chunk [4, 6), zero before") {
        const std::vector<double>& norms = recorder.series.at("timestep_grad_norm");
        REQUIRE(norms.size() == 6);
        CHECK(norms[5] == Approx(dy.norm()));
        CHECK(norms[4] > 0.0);
        for (int t = 0; t < 4; ++t) CHECK(norms[static_cast<std::size_t>(t)] == 0.0);
    }
}

TEST_CASE("gru: bad options and inputs are refused with clear messages", "[plugins][layers][gru]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: gru}"), Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: gru, units: 2, truncate: -1}"), Contains("truncate"));
    auto gru = makeLayer("{kind: gru, units: 2, return_sequences: true}");
    gru->build(Shape{3, 4});
    Matrix<double> y, dx;
    CHECK_THROWS_WITH(gru->forward(Matrix<double>::Ones(3, 6), y, Phase::train), Contains("4 timesteps"));
    Matrix<double> x = Matrix<double>::Ones(3, 8);
    gru->forward(x, y, Phase::train);
    CHECK_THROWS_WITH(gru->backward(x, y, Matrix<double>::Ones(2, 2), &dx), Contains("dy must be [2 x 8]"));
}
