#include "theory/mean_field.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "gradlab/error.hpp"

namespace gradlab::theory {

namespace {

constexpr double integrationLimit = 10.0;     // z in [-10, 10]: Gaussian mass outside is 1.5e-23
constexpr int legendrePoints = 10;            // Gauss–Legendre points per panel
constexpr double widestPanel = 0.5;           // panel width for slowly varying integrands
constexpr double narrowestPanel = 0.02;       // 1-D floor: at most 1000 panels
constexpr double narrowestPanel2D = 0.125;    // 2-D floor: at most 160 x 160 panels
constexpr int lengthIterationCap = 20000;
constexpr double lengthTolerance = 1e-12;     // relative, plus an absolute 1e-15
constexpr double divergenceThreshold = 1e100;
constexpr double correlationTolerance = 1e-12;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

/// Gauss–Legendre nodes and weights on [-1, 1] by Golub–Welsch: the nodes are the eigenvalues of the Jacobi
/// matrix of the Legendre recurrence (zero diagonal, off-diagonal k / sqrt(4k^2 - 1)), the weights
/// 2 v_0^2 with v the normalised eigenvectors (Golub & Welsch 1969, Math. Comp. 23).
struct LegendreRule {
    std::vector<double> nodes, weights;

    LegendreRule() {
        Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(legendrePoints, legendrePoints);
        for (int k = 1; k < legendrePoints; ++k) {
            const double offDiagonal = k / std::sqrt(4.0 * k * k - 1.0);
            jacobi(k, k - 1) = offDiagonal;
            jacobi(k - 1, k) = offDiagonal;
        }
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
        for (int index = 0; index < legendrePoints; ++index) {
            nodes.push_back(solver.eigenvalues()(index));
            weights.push_back(2.0 * solver.eigenvectors()(0, index) * solver.eigenvectors()(0, index));
        }
    }
};

const LegendreRule& legendreRule() {
    static const LegendreRule rule;
    return rule;
}

/// ∫_{-10}^{10} f(z) exp(-z^2 / 2) / sqrt(2 pi) dz, composite Gauss–Legendre, a panel boundary at `breakpoint`.
template <typename Function>
double integrateGaussian(Function&& f, double breakpoint, double panelWidth) {
    const LegendreRule& rule = legendreRule();
    double total = 0.0;
    auto segment = [&](double low, double high) {
        const int panels = std::max(1, static_cast<int>(std::ceil((high - low) / panelWidth - 1e-9)));
        const double width = (high - low) / panels;
        const double half = 0.5 * width;
        for (int panel = 0; panel < panels; ++panel) {
            const double middle = low + (panel + 0.5) * width;
            for (int index = 0; index < legendrePoints; ++index) {
                const double z = middle + half * rule.nodes[index];
                total += half * rule.weights[index] * std::exp(-0.5 * z * z) * f(z);
            }
        }
    };
    if (breakpoint > -integrationLimit && breakpoint < integrationLimit) {
        segment(-integrationLimit, breakpoint);
        segment(breakpoint, integrationLimit);
    } else {
        segment(-integrationLimit, integrationLimit);
    }
    return total / std::sqrt(2.0 * M_PI);
}

/// Panel width for an integrand varying on the scale 1 / scale in z.
double panelFor(double scale, double floor) {
    if (!(scale > 0.0) || !std::isfinite(scale)) return widestPanel;
    return std::clamp(1.0 / scale, floor, widestPanel);
}

/// E[g1(u1) g2(u2)] for the bivariate Gaussian u1 = sqrt(q) z1, u2 = sqrt(q)(c z1 + sqrt(1 - c^2) z2), product
/// rule with the outer integral split at u1 = 0 and each inner one at u2 = 0.
double bivariateExpectation(const std::function<double(double)>& g1, const std::function<double(double)>& g2,
                            double q, double c) {
    const double root = std::sqrt(q);
    const double s = std::sqrt(std::max(0.0, 1.0 - c * c));
    const double outerPanel = panelFor(root, narrowestPanel2D);
    if (s == 0.0)  // u2 = c u1 with c = ±1
        return integrateGaussian([&](double z1) { return g1(root * z1) * g2(c * root * z1); }, 0.0, outerPanel);
    const double innerPanel = panelFor(root * s, narrowestPanel2D);
    return integrateGaussian(
        [&](double z1) {
            const double first = g1(root * z1);
            if (first == 0.0) return 0.0;
            const double shift = c * z1;
            const double inner = integrateGaussian([&](double z2) { return g2(root * (shift + s * z2)); },
                                                   -shift / s, innerPanel);
            return first * inner;
        },
        0.0, outerPanel);
}

/// -1 / ln(chi), +inf when chi is within rounding (1e-12) of 1, 0 at chi = 0.
double depthScale(double chi) {
    if (!std::isfinite(chi)) return nan;
    if (std::abs(chi - 1.0) <= 1e-12) return infinity;
    return -1.0 / std::log(chi);
}

std::string number(double value) {
    std::ostringstream text;
    text.precision(6);
    text << value;
    return text.str();
}

void requireVariance(double value, const char* name) {
    if (!std::isfinite(value) || value < 0.0)
        throw Error(std::string("mean-field theory: ") + name + " must be a finite non-negative number, got " +
                    number(value));
}

}  // namespace

double gaussianExpectation(const std::function<double(double)>& f, double breakpoint, double panelWidth) {
    if (!(panelWidth > 0.0)) throw Error("gaussianExpectation: panel width must be positive, got " + number(panelWidth));
    return integrateGaussian(f, breakpoint, panelWidth);
}

double lengthMap(const std::function<double(double)>& phi, double q, double sigmaW2, double sigmaB2) {
    const double root = std::sqrt(std::max(0.0, q));
    const double secondMoment = integrateGaussian(
        [&](double z) {
            const double value = phi(root * z);
            return value * value;
        },
        0.0, panelFor(root, narrowestPanel));
    return sigmaW2 * secondMoment + sigmaB2;
}

double gradientFactor(const std::function<double(double)>& phiSlope, double q, double sigmaW2) {
    const double root = std::sqrt(std::max(0.0, q));
    return sigmaW2 * integrateGaussian(
                         [&](double z) {
                             const double slope = phiSlope(root * z);
                             return slope * slope;
                         },
                         0.0, panelFor(root, narrowestPanel));
}

double correlationMap(const std::function<double(double)>& phi, double q, double c, double sigmaW2, double sigmaB2) {
    if (!(q > 0.0)) throw Error("correlationMap: q must be positive, got " + number(q));
    if (!(c >= -1.0 && c <= 1.0)) throw Error("correlationMap: c must lie in [-1, 1], got " + number(c));
    return (sigmaW2 * bivariateExpectation(phi, phi, q, c) + sigmaB2) / q;
}

double correlationSlope(const std::function<double(double)>& phiSlope, double q, double c, double sigmaW2) {
    if (!(q >= 0.0)) throw Error("correlationSlope: q must be non-negative, got " + number(q));
    if (!(c >= -1.0 && c <= 1.0)) throw Error("correlationSlope: c must lie in [-1, 1], got " + number(c));
    return sigmaW2 * bivariateExpectation(phiSlope, phiSlope, q, c);
}

MeanFieldPrediction meanField(const std::function<double(double)>& phi, const std::function<double(double)>& phiSlope,
                              double sigmaW2, double sigmaB2) {
    requireVariance(sigmaW2, "sigma_w^2");
    requireVariance(sigmaB2, "sigma_b^2");
    MeanFieldPrediction prediction;
    prediction.sigmaW2 = sigmaW2;
    prediction.sigmaB2 = sigmaB2;
    prediction.qStar = prediction.chi1 = prediction.cStar = prediction.chiC = nan;
    prediction.depthScaleCorrelation = prediction.depthScaleGradient = prediction.depthScaleLength = nan;
    const std::string where = "sigma_w^2 = " + number(sigmaW2) + ", sigma_b^2 = " + number(sigmaB2);
    auto map = [&](double q) { return lengthMap(phi, q, sigmaW2, sigmaB2); };

    // 1. The length map's fixed point q*, by iteration from q = 1 with safeguarded Aitken extrapolation.
    double q = 1.0;
    double halfwayResidual = nan;
    bool settled = false;
    for (int iteration = 1; iteration <= lengthIterationCap; ++iteration) {
        const double next = map(q);
        if (iteration == lengthIterationCap / 2) halfwayResidual = next - q;
        if (!std::isfinite(next) || next > divergenceThreshold) {
            prediction.note = "q diverges: the length map grows without bound (q = " + number(next) + " after " +
                              std::to_string(iteration) + " iterations from q = 1) at " + where +
                              "; an unbounded activation needs a smaller sigma_w^2";
            return prediction;
        }
        if (std::abs(next - q) <= lengthTolerance * next + 1e-15) {
            q = next;
            settled = true;
            break;
        }
        if (iteration % 3 == 0) {
            // Aitken's delta-squared from q, F(q), F(F(q)), only while the iteration contracts (it would jump to
            // the unstable fixed point of a diverging map) and kept only if it halves the residual |F(q) - q|.
            const double afterNext = map(next);
            const double denominator = afterNext - 2.0 * next + q;
            const bool contracting = std::abs(afterNext - next) < (1.0 - 1e-6) * std::abs(next - q);
            if (std::isfinite(afterNext) && denominator != 0.0 && contracting) {
                const double candidate = q - (next - q) * (next - q) / denominator;
                if (std::isfinite(candidate) && candidate >= 0.0 && candidate < divergenceThreshold &&
                    std::abs(map(candidate) - candidate) < 0.5 * std::abs(afterNext - next)) {
                    q = candidate;
                    continue;
                }
            }
            q = std::isfinite(afterNext) ? afterNext : next;
            continue;
        }
        q = next;
    }
    prediction.qStar = q;
    if (!settled) {
        const double residual = map(q) - q;
        // Growing and not slowing down: no finite fixed point (e.g. q -> q + sigma_b^2 for relu at sigma_w^2 = 2).
        const bool growing = residual > 0.0 && residual >= 0.5 * halfwayResidual;
        if (growing)
            prediction.note = "q diverges: the length map keeps growing (q = " + number(q) + " after " +
                              std::to_string(lengthIterationCap) + " iterations, still +" + number(residual) +
                              " per layer) at " + where;
        else
            prediction.note = "q did not settle within " + std::to_string(lengthIterationCap) +
                              " iterations (q = " + number(q) + ", changing by " + number(residual) +
                              " per layer) at " + where + ": the map is marginal here; q* is the last iterate";
        if (growing) {
            prediction.qStar = nan;
            return prediction;
        }
    }

    // 2. chi_1 and the gradient depth scale at q*; xi_q from the map's slope there (central difference).
    prediction.chi1 = gradientFactor(phiSlope, q, sigmaW2);
    prediction.depthScaleGradient = depthScale(prediction.chi1);
    if (q > 0.0) {
        const double step = 1e-4 * q;
        const double mapSlope = (map(q + step) - map(q - step)) / (2.0 * step);
        prediction.depthScaleLength = depthScale(std::abs(mapSlope));
    }

    // 3. The correlation fixed point c*: 1 in the ordered phase (chi_1 <= 1), else the root in [0, 1) of the
    // convex function g(c) = C(c) - c, which is >= 0 at c = 0 and < 0 just below 1 (its slope there is chi_1 - 1).
    if (!(q > 0.0) || !std::isfinite(prediction.chi1)) {
        prediction.cStar = 1.0;
        prediction.chiC = prediction.chi1;
        if (prediction.note.empty()) prediction.note = "q* = 0: every input maps to the same point; c* = 1";
    } else if (prediction.chi1 <= 1.0) {
        prediction.cStar = 1.0;
        prediction.chiC = prediction.chi1;
    } else {
        auto gap = [&](double c) { return correlationMap(phi, q, c, sigmaW2, sigmaB2) - c; };
        double low = 0.0, gapLow = gap(0.0);
        double high = nan, gapHigh = nan;
        if (gapLow <= 0.0) {
            prediction.cStar = 0.0;
        } else {
            for (double distance : {0.5, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8}) {
                const double value = gap(1.0 - distance);
                if (value < 0.0) {
                    high = 1.0 - distance;
                    gapHigh = value;
                    break;
                }
                low = 1.0 - distance;
                gapLow = value;
            }
            if (std::isnan(high)) {
                prediction.cStar = 1.0;
                if (prediction.note.empty())
                    prediction.note = "chi_1 = " + number(prediction.chi1) +
                                      " is within rounding of 1: c* is taken as 1 (critical)";
            } else {
                // Illinois regula falsi: bracketed, superlinear.
                int side = 0;
                double root = 0.5 * (low + high);
                for (int iteration = 0; iteration < 200 && high - low > correlationTolerance; ++iteration) {
                    root = (low * gapHigh - high * gapLow) / (gapHigh - gapLow);
                    const double value = gap(root);
                    if (value == 0.0) {
                        low = high = root;
                        break;
                    }
                    if (value > 0.0) {
                        low = root;
                        gapLow = value;
                        if (side == +1) gapHigh *= 0.5;
                        side = +1;
                    } else {
                        high = root;
                        gapHigh = value;
                        if (side == -1) gapLow *= 0.5;
                        side = -1;
                    }
                }
                prediction.cStar = root;
            }
        }
        prediction.chiC = prediction.cStar == 1.0 ? prediction.chi1
                                                  : correlationSlope(phiSlope, q, prediction.cStar, sigmaW2);
    }
    prediction.depthScaleCorrelation = depthScale(prediction.chiC);
    prediction.converged = settled;
    return prediction;
}

}  // namespace gradlab::theory
