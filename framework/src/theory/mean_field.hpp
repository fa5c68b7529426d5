#pragma once
/// @file mean_field.hpp
/// Mean-field theory of signal and gradient propagation at initialisation in a deep fully connected network:
/// what the per-layer gradient factor, the correlation fixed point and the depth scales should be, for any
/// element-wise activation given as two functions (value and slope).
///
/// The network (Poole et al. 2016, "Exponential expressivity in deep neural networks through transient chaos",
/// NeurIPS; Schoenholz et al. 2017, "Deep Information Propagation", ICLR):
///
///     h^l = W^l phi(h^{l-1}) + b^l,   W^l_ij ~ N(0, sigma_w^2 / fan_in),   b^l_i ~ N(0, sigma_b^2),
///
/// and, with Dz the standard Gaussian measure, u = sqrt(q) z, u1 = sqrt(q) z1, u2 = sqrt(q)(c z1 + sqrt(1 - c^2) z2):
///
///  - length map:       q^l = sigma_w^2 ∫Dz phi(sqrt(q^{l-1}) z)^2 + sigma_b^2, iterated to its fixed point q*;
///  - gradient factor:  chi_1 = sigma_w^2 ∫Dz phi'(sqrt(q*) z)^2, so that E||dL/dh^l||^2 ≈ chi_1 E||dL/dh^{l+1}||^2
///                      (any widths, with fan-in scaling; ordered phase chi_1 < 1: gradients vanish; chaotic
///                      chi_1 > 1: they explode);
///  - correlation map:  c^l = (sigma_w^2 ∫Dz1 Dz2 phi(u1) phi(u2) + sigma_b^2) / q*, with c = c^{l-1}; its fixed
///                      point c* is 1, and stable, iff chi_1 <= 1; otherwise the stable c* lies in [0, 1);
///  - chi_c = sigma_w^2 ∫Dz1 Dz2 phi'(u1) phi'(u2) at c* (equal to chi_1 when c* = 1);
///  - depth scales:     xi_c = -1 / ln(chi_c) (correlations approach c* as exp(-l / xi_c)),
///                      xi_grad = -1 / ln(chi_1) (E||dL/dh^l||^2 ∝ exp(-(L - l) / xi_grad): positive when gradients
///                      vanish, negative when they explode, with |xi_grad| the e-folding depth, +inf at
///                      criticality chi_1 = 1), xi_q = -1 / ln|dq^l/dq^{l-1}| at q*.
///
/// Assumptions: infinitely wide layers (in practice a few hundred units), i.i.d. Gaussian weights and biases
/// scaled by fan-in as above, no normalisation layers, no residual connections, the same activation and
/// sigma_w^2 in every layer, and the gradient-independence assumption of Schoenholz et al. (the weights used
/// backward are treated as independent of those used forward). Inputs only set q^0; the predictions are
/// those after q has reached q*.
///
/// Numerics: Gaussian integrals are composite 10-point Gauss–Legendre rules on z in [-10, 10] (Gaussian mass
/// outside: 1.5e-23) with panels at most 0.5 wide (and at most 1/sqrt(q) for q > 4), split where phi's
/// argument crosses 0 (so kinks and jumps at 0, as in relu, leaky_relu, elu and their slopes, cost no
/// accuracy); 2-D integrals use the product rule, the inner integral split where u2 = 0. For analytic
/// activations (tanh, sigmoid, erf, softplus, gelu, swish), and piecewise-analytic ones with their kinks at 0
/// (elu), the relative error is below 1e-12; for piecewise-polynomial ones with kinks at 0 (relu, leaky_relu)
/// the rule is exact up to rounding; kinks away from 0 (hard tanh at ±1, relu6) degrade it to 1e-4..1e-3.
/// Fixed points: q by iterating the length map from q^0 = 1 (with safeguarded Aitken acceleration) until
/// |q^l - q^{l-1}| <= 1e-12 q + 1e-15, at most 20000 iterations; c* by bracketed root finding (Illinois
/// regula falsi) on C(c) - c over [0, 1), to 1e-12 — the map is convex on [0, 1] (its Mehler expansion has
/// non-negative coefficients), so that root is unique and is the stable fixed point; iterating the map instead
/// slows down as chi_c -> 1.

#include <functional>
#include <string>

namespace gradlab::theory {

/// What mean-field theory predicts at initialisation (see the file comment for the formulas).
struct MeanFieldPrediction {
    /// sigma_w^2, as given: the weight variance times fan-in.
    double sigmaW2 = 0.0;
    /// sigma_b^2, as given: the bias variance.
    double sigmaB2 = 0.0;
    /// q*, the fixed point of the length map: the pre-activation variance deep in the network.
    double qStar = 0.0;
    /// chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: the expected per-layer factor of ||dL/dh||^2 (backwards).
    double chi1 = 0.0;
    /// c*, the stable fixed point of the correlation map (1 when chi_1 <= 1).
    double cStar = 0.0;
    /// chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at c*: the slope of the correlation map at its fixed point.
    double chiC = 0.0;
    /// xi_c = -1 / ln(chi_c): layers over which correlations settle to c* (+inf when chi_c = 1).
    double depthScaleCorrelation = 0.0;
    /// xi_grad = -1 / ln(chi_1): e-folding depth of ||dL/dh||^2, positive when it vanishes, negative when it
    /// explodes, +inf at criticality.
    double depthScaleGradient = 0.0;
    /// False when q has no finite fixed point (it grows without bound) or did not settle; `note` says which.
    bool converged = false;
    /// Empty when all went well; otherwise why the prediction is missing or approximate.
    std::string note;
    /// xi_q = -1 / ln|dq^l / dq^{l-1}| at q*: layers over which the pre-activation variance settles.
    double depthScaleLength = 0.0;
};

/// The standard Gaussian expectation E[f(z)] = ∫Dz f(z), z ~ N(0, 1), by the composite rule described in the
/// file comment, with a panel boundary at `breakpoint` (put kinks of f there) and panels at most `panelWidth`
/// wide.
double gaussianExpectation(const std::function<double(double)>& f, double breakpoint = 0.0, double panelWidth = 0.5);

/// The length map: sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2, the next layer's pre-activation variance.
double lengthMap(const std::function<double(double)>& phi, double q, double sigmaW2, double sigmaB2);

/// chi_1 at variance q: sigma_w^2 E[phi'(sqrt(q) z)^2].
double gradientFactor(const std::function<double(double)>& phiSlope, double q, double sigmaW2);

/// The correlation map at variance q (assumed a fixed point): (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q,
/// u1 = sqrt(q) z1, u2 = sqrt(q)(c z1 + sqrt(1 - c^2) z2); requires q > 0 and c in [-1, 1].
double correlationMap(const std::function<double(double)>& phi, double q, double c, double sigmaW2, double sigmaB2);

/// chi_c at variance q and correlation c: sigma_w^2 E[phi'(u1) phi'(u2)], u1 and u2 as in correlationMap.
double correlationSlope(const std::function<double(double)>& phiSlope, double q, double c, double sigmaW2);

/// Mean-field predictions for activation phi with slope phiSlope (any functions, e.g. an activation plugin's
/// value() and slope()) at weight variance sigmaW2 = sigma_w^2 and bias variance sigmaB2 = sigma_b^2.
/// Throws Error when sigmaW2 or sigmaB2 is negative or not finite. Never throws for a diverging map: returns
/// converged = false with a note (and NaN where there is no prediction).
MeanFieldPrediction meanField(const std::function<double(double)>& phi, const std::function<double(double)>& phiSlope,
                              double sigmaW2, double sigmaB2);

}  // namespace gradlab::theory
