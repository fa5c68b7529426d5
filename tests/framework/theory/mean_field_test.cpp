// Mean-field theory at initialisation (framework/src/theory/mean_field.hpp): closed forms where they exist
// (linear, relu), a direct Monte-Carlo estimate with its own sampling otherwise, and the tanh critical line of
// Schoenholz et al. 2017.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/random.hpp"
#include "theory/mean_field.hpp"

using gradlab::theory::MeanFieldPrediction;
using gradlab::theory::meanField;

namespace {

double relu(double x) { return x > 0.0 ? x : 0.0; }
double reluSlope(double x) { return x > 0.0 ? 1.0 : 0.0; }
double tanhSlope(double x) {
    const double t = std::tanh(x);
    return 1.0 - t * t;
}
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double sigmoidSlope(double x) {
    const double s = sigmoid(x);
    return s * (1.0 - s);
}

/// Mean and standard error of the mean of a sample.
struct Estimate {
    double mean = 0.0, standardError = 0.0;
};

template <typename Function>
Estimate monteCarlo(const std::vector<double>& samples, Function&& f) {
    double sum = 0.0, sumSquares = 0.0;
    for (double z : samples) {
        const double value = f(z);
        sum += value;
        sumSquares += value * value;
    }
    const double n = static_cast<double>(samples.size());
    const double mean = sum / n;
    const double variance = std::max(0.0, sumSquares / n - mean * mean) * n / (n - 1.0);
    return {mean, std::sqrt(variance / n)};
}

const std::vector<double>& standardNormalSamples() {
    static const std::vector<double> samples = [] {
        gradlab::Random random(20170424);
        std::vector<double> values(1000000);
        for (double& value : values) value = random.normal();
        return values;
    }();
    return samples;
}

}  // namespace

TEST_CASE("mean field: relu at sigma_w^2 = 2, sigma_b^2 = 0 is critical (He initialisation)", "[theory]") {
    const MeanFieldPrediction prediction = meanField(relu, reluSlope, 2.0, 0.0);
    CHECK(prediction.converged);
    CHECK(prediction.note.empty());
    CHECK(std::abs(prediction.chi1 - 1.0) < 1e-6);
    CHECK(prediction.cStar == 1.0);
    CHECK(std::isinf(prediction.depthScaleGradient));
    CHECK(prediction.depthScaleGradient > 0);
    // Every q is a fixed point here (q -> 2 q / 2): the iteration stays at its start, q = 1.
    CHECK(prediction.qStar == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("mean field: relu below and above He initialisation", "[theory]") {
    // q* = sigma_b^2 / (1 - sigma_w^2 / 2), chi_1 = sigma_w^2 / 2.
    const MeanFieldPrediction ordered = meanField(relu, reluSlope, 1.5, 0.1);
    CHECK(ordered.converged);
    CHECK(ordered.qStar == Approx(0.1 / (1.0 - 0.75)).epsilon(1e-10));
    CHECK(ordered.chi1 == Approx(0.75).epsilon(1e-12));
    CHECK(ordered.depthScaleGradient == Approx(-1.0 / std::log(0.75)).epsilon(1e-10));
    // Above: q grows geometrically without bound.
    const MeanFieldPrediction exploding = meanField(relu, reluSlope, 3.0, 0.1);
    CHECK_FALSE(exploding.converged);
    CHECK_THAT(exploding.note, Catch::Matchers::Contains("q diverges"));
    CHECK(std::isnan(exploding.chi1));
    // At sigma_w^2 = 2 with biases: q grows by sigma_b^2 per layer, linearly, for ever.
    const MeanFieldPrediction marginal = meanField(relu, reluSlope, 2.0, 0.05);
    CHECK_FALSE(marginal.converged);
    CHECK_THAT(marginal.note, Catch::Matchers::Contains("q diverges"));
}

TEST_CASE("mean field: the relu correlation map is the arc-cosine kernel", "[theory]") {
    // E[relu(u1) relu(u2)] = q / (2 pi) (sqrt(1 - c^2) + (pi - arccos c) c) (Cho & Saul 2009), and the slope
    // correlation E[relu'(u1) relu'(u2)] = (pi - arccos c) / (2 pi).
    const double q = 1.7;
    for (double c : {-0.9, -0.3, 0.0, 0.4, 0.8, 0.99, 1.0}) {
        INFO("c = " << c);
        const double kernel = q / (2.0 * M_PI) * (std::sqrt(1.0 - c * c) + (M_PI - std::acos(c)) * c);
        CHECK(gradlab::theory::correlationMap(relu, q, c, 2.0, 0.3) ==
              Approx((2.0 * kernel + 0.3) / q).epsilon(1e-10));
        CHECK(gradlab::theory::correlationSlope(reluSlope, q, c, 2.0) ==
              Approx(2.0 * (M_PI - std::acos(c)) / (2.0 * M_PI)).epsilon(1e-10));
    }
}

TEST_CASE("mean field: linear activation has closed forms", "[theory]") {
    auto identity = [](double x) { return x; };
    auto one = [](double) { return 1.0; };
    for (double sigmaW2 : {0.25, 0.5, 0.9}) {
        INFO("sigma_w^2 = " << sigmaW2);
        const MeanFieldPrediction prediction = meanField(identity, one, sigmaW2, 0.2);
        CHECK(prediction.converged);
        CHECK(prediction.qStar == Approx(0.2 / (1.0 - sigmaW2)).epsilon(1e-10));
        CHECK(prediction.chi1 == Approx(sigmaW2).epsilon(1e-12));
        CHECK(prediction.cStar == 1.0);
        CHECK(prediction.depthScaleLength == Approx(-1.0 / std::log(sigmaW2)).epsilon(1e-6));
    }
    const MeanFieldPrediction diverging = meanField(identity, one, 1.5, 0.2);
    CHECK_FALSE(diverging.converged);
    CHECK_THAT(diverging.note, Catch::Matchers::Contains("q diverges"));
    CHECK_THAT(diverging.note, Catch::Matchers::Contains("sigma_w^2 = 1.5"));
}

TEST_CASE("mean field: tanh and sigmoid agree with Monte-Carlo", "[theory][monte-carlo]") {
    // For each case: q* is a fixed point of the Monte-Carlo length map, chi_1 matches its Monte-Carlo estimate,
    // and the Monte-Carlo length map iterated on the same samples lands on q*; all within 5 standard errors.
    const std::vector<double>& samples = standardNormalSamples();
    struct Activation {
        const char* name;
        double (*value)(double);
        double (*slope)(double);
    };
    const Activation activations[] = {{"tanh", [](double x) { return std::tanh(x); }, tanhSlope},
                                      {"sigmoid", sigmoid, sigmoidSlope}};
    const double sigmaB2 = 0.05;
    for (const Activation& activation : activations) {
        for (double sigmaW2 : {0.5, 1.0, 1.76, 4.0}) {
            INFO(activation.name << " sigma_w^2 = " << sigmaW2);
            const MeanFieldPrediction prediction = meanField(activation.value, activation.slope, sigmaW2, sigmaB2);
            REQUIRE(prediction.converged);
            const double q = prediction.qStar;
            const double root = std::sqrt(q);

            const Estimate mapped = monteCarlo(samples, [&](double z) {
                const double value = activation.value(root * z);
                return sigmaW2 * value * value + sigmaB2;
            });
            CHECK(std::abs(mapped.mean - q) < 5.0 * mapped.standardError);

            const Estimate chi = monteCarlo(samples, [&](double z) {
                const double slope = activation.slope(root * z);
                return sigmaW2 * slope * slope;
            });
            CHECK(std::abs(chi.mean - prediction.chi1) < 5.0 * chi.standardError);

            // Iterate the Monte-Carlo map (common random numbers) to its own fixed point. Its error is the
            // map's standard error amplified by 1 / (1 - slope of the map at q*).
            double qMonteCarlo = 1.0;
            for (int iteration = 0; iteration < 200; ++iteration) {
                const double next = monteCarlo(samples, [&](double z) {
                                        const double value = activation.value(std::sqrt(qMonteCarlo) * z);
                                        return sigmaW2 * value * value + sigmaB2;
                                    }).mean;
                const bool done = std::abs(next - qMonteCarlo) < 1e-3 * mapped.standardError;
                qMonteCarlo = next;
                if (done) break;
            }
            const double mapSlope = std::exp(-1.0 / prediction.depthScaleLength);
            const double tolerance = 5.0 * mapped.standardError / (1.0 - mapSlope);
            CHECK(std::abs(qMonteCarlo - q) < tolerance);
            UNSCOPED_INFO(activation.name << " sigma_w^2=" << sigmaW2 << ": q*=" << q << " (MC " << qMonteCarlo
                                          << "), chi_1=" << prediction.chi1 << " (MC " << chi.mean << " ± "
                                          << chi.standardError << ")");
        }
    }
}

TEST_CASE("mean field: the tanh correlation map and chi_c agree with Monte-Carlo", "[theory][monte-carlo]") {
    // In the chaotic phase (tanh, sigma_w^2 = 4): c* < 1 is a fixed point of the Monte-Carlo correlation map,
    // and chi_c matches sigma_w^2 E[phi'(u1) phi'(u2)] sampled at c*.
    const MeanFieldPrediction prediction =
        meanField([](double x) { return std::tanh(x); }, tanhSlope, 4.0, 0.05);
    REQUIRE(prediction.converged);
    CHECK(prediction.chi1 > 1.0);
    CHECK(prediction.cStar > 0.0);
    CHECK(prediction.cStar < 1.0);
    CHECK(prediction.chiC < 1.0);
    CHECK(prediction.depthScaleGradient < 0.0);  // gradients explode
    const std::vector<double>& samples = standardNormalSamples();
    const double q = prediction.qStar, c = prediction.cStar, root = std::sqrt(q);
    const double s = std::sqrt(1.0 - c * c);
    double sum = 0.0, sumSquares = 0.0, slopeSum = 0.0, slopeSquares = 0.0;
    const std::size_t pairs = samples.size() / 2;
    for (std::size_t index = 0; index < pairs; ++index) {
        const double z1 = samples[2 * index], z2 = samples[2 * index + 1];
        const double u1 = root * z1, u2 = root * (c * z1 + s * z2);
        const double value = (4.0 * std::tanh(u1) * std::tanh(u2) + 0.05) / q;
        const double slope = 4.0 * tanhSlope(u1) * tanhSlope(u2);
        sum += value;
        sumSquares += value * value;
        slopeSum += slope;
        slopeSquares += slope * slope;
    }
    const double n = static_cast<double>(pairs);
    const double mean = sum / n, error = std::sqrt((sumSquares / n - mean * mean) / n);
    const double slopeMean = slopeSum / n, slopeError = std::sqrt((slopeSquares / n - slopeMean * slopeMean) / n);
    CHECK(std::abs(mean - c) < 5.0 * error);
    CHECK(std::abs(slopeMean - prediction.chiC) < 5.0 * slopeError);
    CHECK(prediction.depthScaleCorrelation == Approx(-1.0 / std::log(prediction.chiC)));
}

TEST_CASE("mean field: tanh with sigma_b^2 = 0.05 is critical near sigma_w^2 = 1.76", "[theory]") {
    // Schoenholz et al. 2017, Fig. 1: the order-to-chaos line passes sigma_w^2 ≈ 1.76 at sigma_b^2 = 0.05.
    auto tanhValue = [](double x) { return std::tanh(x); };
    const MeanFieldPrediction below = meanField(tanhValue, tanhSlope, 1.70, 0.05);
    const MeanFieldPrediction above = meanField(tanhValue, tanhSlope, 1.85, 0.05);
    CHECK(below.chi1 < 1.0);
    CHECK(above.chi1 > 1.0);
    CHECK(below.cStar == 1.0);
    CHECK(above.cStar < 1.0);
    // Bisection for the crossing.
    double low = 1.70, high = 1.85;
    for (int iteration = 0; iteration < 30; ++iteration) {
        const double middle = 0.5 * (low + high);
        (meanField(tanhValue, tanhSlope, middle, 0.05).chi1 < 1.0 ? low : high) = middle;
    }
    UNSCOPED_INFO("tanh critical sigma_w^2 at sigma_b^2 = 0.05: " << low);
    CHECK(low > 1.72);
    CHECK(low < 1.80);
    // The gradient depth scale diverges there.
    CHECK(std::abs(meanField(tanhValue, tanhSlope, low, 0.05).depthScaleGradient) > 1e4);
}

TEST_CASE("mean field: quadrature accuracy against a much finer rule", "[theory]") {
    // gaussianExpectation with 0.5-wide panels vs 0.05-wide ones, for integrands of the kinds the maps use.
    using gradlab::theory::gaussianExpectation;
    for (double scale : {0.3, 1.0, 2.0}) {
        INFO("scale " << scale);
        auto tanhSquared = [&](double z) { return std::pow(std::tanh(scale * z), 2); };
        auto sigmoidSlopeSquared = [&](double z) { return std::pow(sigmoidSlope(scale * z), 2); };
        auto softplus = [&](double z) { return std::log1p(std::exp(scale * z)); };
        for (const std::function<double(double)>& f :
             std::vector<std::function<double(double)>>{tanhSquared, sigmoidSlopeSquared, softplus}) {
            const double coarse = gaussianExpectation(f), fine = gaussianExpectation(f, 0.0, 0.05);
            CHECK(std::abs(coarse - fine) <= 1e-13 * std::abs(fine));
        }
    }
    // Polynomials: E[z^2] = 1, E[z^4] = 3, E[z^8] = 105.
    CHECK(gaussianExpectation([](double z) { return z * z; }) == Approx(1.0).epsilon(1e-14));
    CHECK(gaussianExpectation([](double z) { return std::pow(z, 4); }) == Approx(3.0).epsilon(1e-14));
    CHECK(gaussianExpectation([](double z) { return std::pow(z, 8); }) == Approx(105.0).epsilon(1e-13));
}

TEST_CASE("mean field refuses invalid variances", "[theory]") {
    CHECK_THROWS_WITH(meanField(relu, reluSlope, -1.0, 0.0), Catch::Matchers::Contains("sigma_w^2 must be"));
    CHECK_THROWS_WITH(meanField(relu, reluSlope, 1.0, NAN), Catch::Matchers::Contains("sigma_b^2 must be"));
}
