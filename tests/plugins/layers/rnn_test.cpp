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
using gradlab::testing::spec;
using Catch::Matchers::Contains;

namespace {

/// The Elman cell written plainly: h_t = tanh(W_x x_t + W_h h_{t-1} + b).
gradlab::testing::ReferenceCell tanhCell(Index units) {
    gradlab::testing::ReferenceCell cell;
    cell.units = units;
    cell.stateRows = units;
    cell.step = [](const gradlab::testing::ParameterValues& p, const Matrix<double>& x, const Matrix<double>& h,
                   Matrix<double>& next) {
        Matrix<double> z = p.at("W_x") * x + p.at("W_h") * h;
        z.colwise() += p.at("b").col(0);
        next = z.array().tanh().matrix();
    };
    return cell;
}

/// Two sequences of one feature over three steps, timestep-major: sample 0 is 1, 2, 3 and sample 1 is -1, 0, 1.
Matrix<double> handSequences() {
    Matrix<double> x(1, 6);
    x << 1, -1, 2, 0, 3, 1;
    return x;
}

}  // namespace

GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 3}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 3, return_sequences: true}", Shape{2, 4})
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 2, activation: sigmoid, return_sequences: true}", Shape{3, 3})
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 3, activation: {kind: prelu, per_unit: true}, return_sequences: true}",
                          Shape{2, 3})
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 2, activation: identity}", Shape{2, 5})
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 4}", Shape{3, 1})
// truncate >= T is full BPTT, so the full-loss finite differences of the generic test apply.
GRADLAB_LAYER_CONFORMANCE("{kind: rnn, units: 3, truncate: 4, return_sequences: true}", Shape{2, 4})

TEST_CASE("rnn: BPTT matches a reference cell, full and truncated, last-step and all-step losses",
          "[plugins][layers][rnn]") {
    using gradlab::testing::checkAgainstReference;
    SECTION("full BPTT, last step") { checkAgainstReference("{kind: rnn, units: 3}", tanhCell(3), Shape{2, 6}, 0); }
    SECTION("full BPTT, every step") {
        checkAgainstReference("{kind: rnn, units: 3, return_sequences: true}", tanhCell(3), Shape{2, 6}, 0);
    }
    SECTION("truncated k = 2, last step") {
        checkAgainstReference("{kind: rnn, units: 3, truncate: 2}", tanhCell(3), Shape{2, 7}, 2);
    }
    SECTION("truncated k = 3, every step (the last chunk is shorter)") {
        checkAgainstReference("{kind: rnn, units: 3, truncate: 3, return_sequences: true}", tanhCell(3),
                              Shape{2, 7}, 3);
    }
    SECTION("truncated k = 1: no recurrent gradient at all") {
        checkAgainstReference("{kind: rnn, units: 2, truncate: 1, return_sequences: true}", tanhCell(2),
                              Shape{3, 4}, 1);
    }
}

TEST_CASE("rnn: stacks chain through time (rnn -> rnn -> dense)", "[plugins][layers][rnn]") {
    gradlab::testing::checkStackGradients({"{kind: rnn, units: 3, return_sequences: true}",
                                           "{kind: rnn, units: 2, activation: sigmoid, return_sequences: true}",
                                           "{kind: dense, units: 2}"},
                                          Shape{2, 4});
    gradlab::testing::checkStackGradients(
        {"{kind: rnn, units: 3, return_sequences: true}", "{kind: rnn, units: 2}", "{kind: dense, units: 1}"},
        Shape{2, 5});
}

TEST_CASE("rnn: parameters, names, shapes and default initializers", "[plugins][layers][rnn]") {
    auto rnn = makeLayer("{kind: rnn, units: 3}");
    CHECK(rnn->build(Shape{2, 5}) == Shape{3, 1});
    CHECK(parameterNames(*rnn) == std::vector<std::string>{"W_x", "W_h", "b"});
    CHECK(rnn->param("W_x").value.rows() == 3);
    CHECK(rnn->param("W_x").value.cols() == 2);
    CHECK(rnn->param("W_x").init.initializer == "glorot_uniform");
    CHECK(rnn->param("W_x").init.fanIn == 2);
    CHECK(rnn->param("W_x").init.fanOut == 3);
    CHECK(rnn->param("W_x").init.isWeight);
    CHECK(rnn->param("W_h").value.rows() == 3);
    CHECK(rnn->param("W_h").value.cols() == 3);
    CHECK(rnn->param("W_h").init.initializer == "orthogonal");
    CHECK(rnn->param("W_h").init.isWeight);
    CHECK(rnn->param("b").value.rows() == 3);
    CHECK(rnn->param("b").value.cols() == 1);
    CHECK(rnn->param("b").init.initializer == "zeros");
    CHECK_FALSE(rnn->param("b").init.isWeight);

    auto sequences = makeLayer("{kind: rnn, units: 4, return_sequences: true, activation: {kind: prelu}}");
    CHECK(sequences->build(Shape{2, 5}) == Shape{4, 5});
    CHECK(parameterNames(*sequences) == std::vector<std::string>{"W_x", "W_h", "b", "activation.slope"});
}

TEST_CASE("rnn: known values for units = 1 and the identity, h_t = w_x x_t + w_h h_{t-1} + b",
          "[plugins][layers][rnn]") {
    // w_x = 2, w_h = 0.5, b = 0. Sample 0: x = 1, 2, 3 -> h = 2, 5, 8.5; sample 1: x = -1, 0, 1 -> h = -2, -1, 1.5.
    const Matrix<double> x = handSequences();
    auto build = [](const std::string& yaml) {
        auto rnn = makeLayer(yaml);
        rnn->build(Shape{1, 3});
        rnn->param("W_x").value(0, 0) = 2.0;
        rnn->param("W_h").value(0, 0) = 0.5;
        rnn->param("b").value(0, 0) = 0.0;
        return rnn;
    };
    Matrix<double> y, dx;

    SECTION("every step") {
        auto rnn = build("{kind: rnn, units: 1, activation: identity, return_sequences: true}");
        rnn->forward(x, y, Phase::train);
        Matrix<double> expected(1, 6);
        expected << 2, -2, 5, -1, 8.5, 1.5;
        CHECK(y.isApprox(expected));
    }
    SECTION("last step, full BPTT: dh_t = 1, 0.5, 0.25 going back") {
        auto rnn = build("{kind: rnn, units: 1, activation: identity}");
        rnn->forward(x, y, Phase::train);
        Matrix<double> expected(1, 2);
        expected << 8.5, 1.5;
        CHECK(y.isApprox(expected));
        rnn->backward(x, y, Matrix<double>::Ones(1, 2), &dx);
        // dW_x = sum_t dh_t x_t = (3 + 1 + 0.25) + (1 + 0 - 0.25); dW_h = sum_{t>=1} dh_t h_{t-1} = (5 + 1) + (-1 - 1).
        CHECK(rnn->param("W_x").grad(0, 0) == Approx(5.0));
        CHECK(rnn->param("W_h").grad(0, 0) == Approx(4.0));
        CHECK(rnn->param("b").grad(0, 0) == Approx(3.5));
        Matrix<double> expectedDx(1, 6);
        expectedDx << 0.5, 0.5, 1, 1, 2, 2;  // w_x dh_t
        CHECK(dx.isApprox(expectedDx));
    }
    SECTION("last step, truncate: 2 (chunks [0, 2) and [2, 3)): only the last step sees the gradient") {
        auto rnn = build("{kind: rnn, units: 1, activation: identity, truncate: 2}");
        rnn->forward(x, y, Phase::train);
        rnn->backward(x, y, Matrix<double>::Ones(1, 2), &dx);
        CHECK(rnn->param("W_x").grad(0, 0) == Approx(3.0 + 1.0));
        CHECK(rnn->param("W_h").grad(0, 0) == Approx(5.0 - 1.0));  // dh_2 h_1: W_h still multiplies the constant h_1
        CHECK(rnn->param("b").grad(0, 0) == Approx(2.0));
        Matrix<double> expectedDx(1, 6);
        expectedDx << 0, 0, 0, 0, 2, 2;
        CHECK(dx == expectedDx);
    }
}

TEST_CASE("rnn: timestep_grad_norm halves each step back for h_t = x_t + 0.5 h_{t-1}", "[plugins][layers][rnn]") {
    const Index units = 3, batch = 2, timesteps = 4;
    const Index truncate = GENERATE(0, 2);
    auto rnn = makeLayer("{kind: rnn, units: 3, activation: identity, truncate: " + std::to_string(truncate) + "}");
    rnn->build(Shape{2, timesteps});
    gradlab::Random random(7);
    for (Index i = 0; i < rnn->param("W_x").value.size(); ++i) rnn->param("W_x").value.data()[i] = random.normal();
    rnn->param("W_h").value = 0.5 * Matrix<double>::Identity(units, units);
    Matrix<double> x = Matrix<double>::Random(2, batch * timesteps), y, dy = Matrix<double>::Random(units, batch);
    rnn->setTracing(true);
    rnn->forward(x, y, Phase::train);
    rnn->backward(x, y, dy, nullptr);
    gradlab::testing::StatisticsRecorder recorder;
    rnn->statistics(recorder);
    const std::vector<double>& norms = recorder.series.at("timestep_grad_norm");
    REQUIRE(norms.size() == 4);
    const double last = dy.norm();
    CAPTURE(truncate, norms);
    CHECK(norms[3] == Approx(last));
    CHECK(norms[2] == Approx(last / 2));
    if (truncate == 0) {
        CHECK(norms[1] == Approx(last / 4));
        CHECK(norms[0] == Approx(last / 8));
    } else {
        CHECK(norms[1] == 0.0);  // the end of chunk [0, 2): the recurrent path is cut
        CHECK(norms[0] == 0.0);
    }
}

TEST_CASE("rnn: recurrent_spectral_norm is W_h's largest singular value", "[plugins][layers][rnn]") {
    auto rnn = makeLayer("{kind: rnn, units: 5, return_sequences: true}");
    rnn->build(Shape{2, 3});
    gradlab::Random random(11);
    Matrix<double>& recurrent = rnn->param("W_h").value;
    for (Index i = 0; i < recurrent.size(); ++i) recurrent.data()[i] = random.normal();
    const double expected = Eigen::JacobiSVD<Matrix<double>>(recurrent).singularValues()(0);
    Matrix<double> x = Matrix<double>::Random(2, 6), y;
    gradlab::testing::StatisticsRecorder recorder;

    SECTION("not computed while the host does not trace") {
        rnn->forward(x, y, Phase::train);
        rnn->backward(x, y, Matrix<double>::Ones(5, 6), nullptr);
        rnn->statistics(recorder);
        CHECK(std::isnan(recorder.series.at("recurrent_spectral_norm").at(0)));
        CHECK(std::isnan(recorder.series.at("timestep_grad_norm").at(0)));
    }
    SECTION("warm-started power iteration converges across traced steps") {
        rnn->setTracing(true);
        for (int step = 0; step < 4; ++step) rnn->forward(x, y, Phase::train);
        rnn->statistics(recorder);
        REQUIRE(recorder.series.at("recurrent_spectral_norm").size() == 1);
        CHECK(recorder.series.at("recurrent_spectral_norm")[0] == Approx(expected).epsilon(1e-8));
    }
    SECTION("an orthogonal W_h has spectral norm 1, a zero W_h 0") {
        rnn->setTracing(true);
        gradlab::testing::initializeParameters(*rnn, random);
        rnn->forward(x, y, Phase::train);
        rnn->statistics(recorder);
        CHECK(recorder.series.at("recurrent_spectral_norm")[0] == Approx(1.0).epsilon(1e-12));
        recurrent.setZero();
        rnn->forward(x, y, Phase::train);
        rnn->statistics(recorder);
        CHECK(recorder.series.at("recurrent_spectral_norm")[0] == 0.0);
    }
}

TEST_CASE("rnn: outputs are not reallocated from step to step", "[plugins][layers][rnn]") {
    const bool returnSequences = GENERATE(false, true);
    auto rnn = makeLayer(std::string("{kind: rnn, units: 3, return_sequences: ") + (returnSequences ? "true" : "false") +
                         "}");
    rnn->build(Shape{2, 4});
    Matrix<double> x = Matrix<double>::Random(2, 8), y, dx;
    rnn->forward(x, y, Phase::train);
    rnn->backward(x, y, Matrix<double>::Ones(y.rows(), y.cols()), &dx);
    const double* output = y.data();
    const double* inputGrad = dx.data();
    for (int step = 0; step < 3; ++step) {
        rnn->forward(x, y, Phase::train);
        rnn->backward(x, y, Matrix<double>::Ones(y.rows(), y.cols()), &dx);
    }
    CHECK(y.data() == output);
    CHECK(dx.data() == inputGrad);
}

TEST_CASE("rnn: bad options and inputs are refused with clear messages", "[plugins][layers][rnn]") {
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: rnn}"), Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: rnn, units: 0}"), Contains("units"));
    CHECK_THROWS_WITH(spec(PluginKind::layer, "{kind: rnn, units: 2, truncate: -1}"), Contains("truncate"));
    auto rnn = makeLayer("{kind: rnn, units: 2}");
    rnn->build(Shape{3, 4});
    Matrix<double> y;
    CHECK_THROWS_WITH(rnn->forward(Matrix<double>::Ones(2, 8), y, Phase::train),
                      Contains("3 input features") && Contains("2 rows"));
    CHECK_THROWS_WITH(rnn->forward(Matrix<double>::Ones(3, 6), y, Phase::train),
                      Contains("4 timesteps") && Contains("6 columns"));
    Matrix<double> x = Matrix<double>::Ones(3, 8), dx;
    rnn->forward(x, y, Phase::train);
    CHECK_THROWS_WITH(rnn->backward(x, y, Matrix<double>::Ones(2, 8), &dx), Contains("dy must be [2 x 2]"));
}
