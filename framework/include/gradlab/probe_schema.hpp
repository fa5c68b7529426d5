#pragma once
/// @file probe_schema.hpp
/// Names of the probe tables that cross files (docs/hdf5-schema.md, "/probes"): the host's group and step column,
/// and the tables and theory attributes of the built-in probes. A probe writes through these names, and the
/// trace reader, `gradlab inspect` and the tests read through them, so that a misspelling is a compile error.

namespace gradlab::probeSchema {

/// The group every probe's tables live under: /probes/<name>/.
inline constexpr const char* group = "/probes";
/// The column the host writes beside a probe's tables: the probe step of each row (updates applied so far).
inline constexpr const char* stepColumn = "step";
/// The subgroup of /probes/<name>/ whose attributes hold a probe's theoretical prediction.
inline constexpr const char* theoryGroup = "theory";

/// The jacobian_spectrum probe (plugins/probes/jacobian_spectrum.cpp). Its tables for dx_L/dx_0 sit in
/// /probes/<name>/, those of a partial Jacobian from layer l in /probes/<name>/from/<layer name>/, those of a
/// recurrent layer's dh_{T-1}/dh_t in /probes/<name>/timesteps/<layer name>/<t>/.
namespace jacobianSpectrum {
inline constexpr const char* kind = "jacobian_spectrum";
inline constexpr const char* singularValues = "singular_values";  ///< [S x n x K], descending
inline constexpr const char* quantiles = "quantiles";             ///< [S x n x 7], at quantilePercents
inline constexpr const char* meanSq = "mean_sq";                  ///< [S x n], mean of sigma^2
inline constexpr const char* varSq = "var_sq";                    ///< [S x n], variance of sigma^2
inline constexpr const char* max = "max";                         ///< [S x n], largest sigma
inline constexpr const char* min = "min";                         ///< [S x n], smallest sigma
inline constexpr const char* logCondition = "log_condition";      ///< [S x n], ln(max / min)
inline constexpr const char* fromGroup = "from";                  ///< parent of the partial Jacobians' groups
inline constexpr const char* timestepsGroup = "timesteps";        ///< parent of the recurrent Jacobians' groups
/// The quantiles (percent) of each spectrum in `quantiles`.
inline constexpr double quantilePercents[] = {0, 1, 10, 50, 90, 99, 100};
inline constexpr int quantileCount = 7;

/// Attributes of /probes/<name>/theory: the free-probability prediction (docs/theory.md).
namespace theory {
inline constexpr const char* applies = "applies";          ///< 1 or 0
inline constexpr const char* note = "note";                ///< why not, or the assumptions
inline constexpr const char* weights = "weights";          ///< "iid" or "orthogonal"
inline constexpr const char* activation = "activation";    ///< phi's plugin name
inline constexpr const char* depth = "depth";              ///< L, the layers applying phi
inline constexpr const char* width = "width";              ///< N
inline constexpr const char* qStar = "q_star";             ///< the fixed point q*
inline constexpr const char* chi = "chi";                  ///< sigma_w^2 mu_1
inline constexpr const char* mu1 = "mu1";                  ///< E[phi'(h)^2], h ~ N(0, q*)
inline constexpr const char* mu2 = "mu2";                  ///< E[phi'(h)^4]
inline constexpr const char* meanSq = "mean_sq";           ///< predicted mean of sigma^2: chi^L
inline constexpr const char* normalisedVarSq = "normalised_var_sq";  ///< predicted var(sigma^2) / mean^2
}  // namespace theory
}  // namespace jacobianSpectrum

/// The gradient_noise probe (plugins/probes/gradient_noise.cpp): per-sample gradient statistics in /probes/<name>/,
/// one row per probe step. The per-parameter tables are [S x P], P the model's parameters in the order of
/// /meta/param_names (ProbeContext::parameterName); g_i is sample i's own loss gradient, G = (1/B) sum_i g_i.
namespace gradientNoise {
inline constexpr const char* kind = "gradient_noise";
inline constexpr const char* gradNorm = "grad_norm";                          ///< [S x P], ||G_p||
inline constexpr const char* meanSampleGradNorm = "mean_sample_grad_norm";   ///< [S x P], (1/B) sum_i ||g_i,p||
inline constexpr const char* sampleGradSqSum = "sample_grad_sq_sum";         ///< [S x P], sum_i ||g_i,p||^2
inline constexpr const char* covTrace = "cov_trace";                         ///< [S x P], tr of the covariance
inline constexpr const char* gsnr = "gsnr";                                  ///< [S x P], mean of G_j^2 / Var_j
inline constexpr const char* modelGradNorm = "model_grad_norm";              ///< [S], ||G||
inline constexpr const char* modelSampleGradSqSum = "model_sample_grad_sq_sum";  ///< [S], sum_i ||g_i||^2
inline constexpr const char* modelCovTrace = "model_cov_trace";              ///< [S], tr Sigma
inline constexpr const char* modelGsnr = "model_gsnr";                       ///< [S], over every element
inline constexpr const char* noiseScale = "noise_scale";                     ///< [S], B_simple = tr Sigma / ||G||^2
inline constexpr const char* confusion = "confusion";                        ///< [S], min_{i != j} cos(g_i, g_j)
inline constexpr const char* samples = "samples";                            ///< [S], B
inline constexpr const char* factored = "factored";                          ///< [S], 1: from layers' factors
inline constexpr const char* seconds = "seconds";                            ///< [S], wall clock of the step
inline constexpr const char* note = "note";  ///< string attribute of /probes/<name>: why the rows are NaN, or ""
}  // namespace gradientNoise

}  // namespace gradlab::probeSchema
