#include "model/loss.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using namespace gradlab;

namespace {

/// Max relative error between the analytic gradient and central finite differences of value().
double gradientError(Loss<double>& loss, Matrix<double> prediction, const Matrix<double>& target) {
    Matrix<double> gradient;
    loss.evaluate(prediction, target, gradient);
    double worst = 0;
    for (Index i = 0; i < prediction.size(); ++i) {
        const double saved = prediction(i), step = 1e-6 * std::max(1.0, std::abs(saved));
        prediction(i) = saved + step;
        const double up = loss.value(prediction, target);
        prediction(i) = saved - step;
        const double down = loss.value(prediction, target);
        prediction(i) = saved;
        const double numeric = (up - down) / (2 * step);
        worst = std::max(worst, std::abs(numeric - gradient(i)) / std::max(1e-8, std::abs(numeric) + std::abs(gradient(i))));
    }
    return worst;
}

}  // namespace

TEST_CASE("sse and mse: known values and gradients", "[model][loss]") {
    Matrix<double> p(2, 2), y(2, 2), gradient;
    p << 1, 2, 3, 4;
    y << 0, 2, 5, 1;
    auto sse = makeLoss<double>("sse", true);
    CHECK(sse->evaluate(p, y, gradient) == Approx(1 + 0 + 4 + 9));
    CHECK(gradient(0, 0) == Approx(2));
    CHECK(gradient(1, 0) == Approx(-4));
    auto mse = makeLoss<double>("mse", true);
    CHECK(mse->evaluate(p, y, gradient) == Approx(14.0 / 4));
    CHECK(gradient(1, 1) == Approx(2 * 3 / 4.0));
    CHECK(gradientError(*sse, p, y) < 1e-8);
    CHECK(gradientError(*mse, p, y) < 1e-8);
}

TEST_CASE("sse and mse on one-hot class targets count argmax hits, and only when told to", "[model][loss]") {
    Matrix<double> p(3, 4), y = Matrix<double>::Zero(3, 4);
    p << 0.9, 0.1, 0.2, 0.3,  //
        0.0, 0.8, 0.7, 0.3,   //
        0.1, 0.1, 0.1, 0.5;
    y(0, 0) = y(1, 1) = y(2, 2) = y(2, 3) = 1;  // hits: columns 0, 1 and 3; column 2 predicts class 1, not 2
    for (const char* kind : {"sse", "mse"}) {
        auto loss = makeLoss<double>(kind, true);
        CHECK(loss->correct(p, y) == -1);  // numeric targets: no accuracy
        loss->setOneHotClasses(true);
        CHECK(loss->correct(p, y) == 3);
        CHECK(loss->counted(p, y) == 4);
        y(0, 3) = std::numeric_limits<double>::quiet_NaN();  // a masked column counts for nothing
        CHECK(loss->correct(p, y) == 2);
        CHECK(loss->counted(p, y) == 3);
        y(0, 3) = 0;
    }
}

TEST_CASE("softmax cross-entropy: class indices and one-hot agree, gradient checks", "[model][loss]") {
    Matrix<double> p(3, 2), indices(1, 2), oneHot = Matrix<double>::Zero(3, 2);
    p << 1, -1, 2, 0, 3, 0.5;
    indices << 2, 0;
    oneHot(2, 0) = 1;
    oneHot(0, 1) = 1;
    auto loss = makeLoss<double>("softmax_cross_entropy", true);
    const double expected0 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
    const double expected1 = -std::log(std::exp(-1.0) / (std::exp(-1.0) + std::exp(0.0) + std::exp(0.5)));
    CHECK(loss->value(p, indices) == Approx((expected0 + expected1) / 2));
    CHECK(loss->value(p, oneHot) == Approx((expected0 + expected1) / 2));
    CHECK(gradientError(*loss, p, indices) < 1e-7);
    CHECK(loss->correct(p, indices) == 1);  // column 0 right (class 2), column 1 wrong (predicts 2)
    // Large logits stay finite.
    p(2, 0) = 1000;
    CHECK(std::isfinite(loss->value(p, indices)));
}

TEST_CASE("binary cross-entropy from logits and from probabilities", "[model][loss]") {
    Matrix<double> logits(1, 3), y(1, 3);
    logits << 0.3, -2, 4;
    y << 1, 0, 1;
    auto fromLogits = makeLoss<double>("binary_cross_entropy", true);
    auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    const double expected =
        -(std::log(sigmoid(0.3)) + std::log(1 - sigmoid(-2)) + std::log(sigmoid(4))) / 3;
    CHECK(fromLogits->value(logits, y) == Approx(expected));
    CHECK(gradientError(*fromLogits, logits, y) < 1e-7);
    Matrix<double> probabilities = logits.unaryExpr(sigmoid);
    auto fromProbabilities = makeLoss<double>("binary_cross_entropy", false);
    CHECK(fromProbabilities->value(probabilities, y) == Approx(expected));
    CHECK(gradientError(*fromProbabilities, probabilities, y) < 1e-6);
}

TEST_CASE("a loss refuses mismatched shapes with both shapes in the message", "[model][loss]") {
    Matrix<double> p(2, 3), y(3, 3), gradient;
    p.setZero();
    y.setZero();
    CHECK_THROWS_WITH(makeLoss<double>("mse", true)->evaluate(p, y, gradient),
                      Catch::Matchers::Contains("[2 x 3]") && Catch::Matchers::Contains("[3 x 3]"));
}

TEST_CASE("masked losses skip NaN targets: no loss, no gradient, means over the targets present", "[model][loss]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Matrix<double> p(1, 4), y(1, 4), gradient;
    p << 1, 2, 3, 4;
    y << 0, nan, 5, nan;
    auto mse = makeLoss<double>("mse", true);
    mse->setMasked(true);
    CHECK(mse->evaluate(p, y, gradient) == Approx((1.0 + 4.0) / 2));
    CHECK(gradient(0, 1) == 0);
    CHECK(gradient(0, 3) == 0);
    CHECK(gradient(0, 2) == Approx(2 * -2.0 / 2));
    auto sse = makeLoss<double>("sse", true);
    sse->setMasked(true);
    CHECK(sse->value(p, y) == Approx(5.0));

    Matrix<double> logits(3, 3), labels(1, 3);
    logits << 1, 0, 2, 0, 3, 0, 0, 0, 1;
    labels << 0, nan, 2;
    auto entropy = makeLoss<double>("softmax_cross_entropy", true);
    entropy->setMasked(true);
    const double full = entropy->evaluate(logits, labels, gradient);
    CHECK(gradient.col(1).isZero());
    Matrix<double> twoColumns(3, 2), twoLabels(1, 2);
    twoColumns << 1, 2, 0, 0, 0, 1;
    twoLabels << 0, 2;
    CHECK(full == Approx(entropy->value(twoColumns, twoLabels)));
    CHECK(entropy->counted(logits, labels) == 2);
}
