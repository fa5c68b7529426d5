/// @file gradient_noise.cpp
/// The gradient_noise probe: statistics of the per-sample gradients g_i (i = 1..B) of the probe batch, per
/// parameter and for the whole model. g_i is the gradient of sample i's own loss term l_i, unscaled (the loss of a
/// batch of one: for sse its squared error, for the mean losses its mean; ProbeContext::sampleLossGradients), with
/// no regularizer penalty; G = (1/B) sum_i g_i is their mean. Per parameter p:
///
///     grad_norm ||G_p||,  mean_sample_grad_norm (1/B) sum_i ||g_i,p||,  sample_grad_sq_sum sum_i ||g_i,p||^2,
///     cov_trace = (sum_i ||g_i,p||^2 - B ||G_p||^2) / (B - 1)   (the trace of the unbiased per-sample covariance),
///     gsnr = mean over the elements j of p of G_j^2 / Var_j,  Var_j = (sum_i g_ij^2 - B G_j^2) / (B - 1)
///
/// (the gradient signal-to-noise ratio of Liu et al. 2020, "Understanding why neural networks generalize well
/// through GSNR of parameters", ICLR; elements whose variance is zero, to rounding, are left out of the mean:
/// sum_i g_ij^2 - B G_j^2 <= 64 eps sum_i g_ij^2, eps the run precision's machine epsilon; NaN when none is
/// left). Whole model: the same
/// over the parameter vector, the simple noise scale B_simple = tr Sigma / ||G||^2 (McCandlish et al. 2018, "An
/// empirical model of large-batch training") and the gradient confusion min_{i != j} cos(g_i, g_j) (Sankararaman
/// et al. 2020, "The impact of neural network overparameterization on gradient confusion and stochastic gradient
/// descent", ICML; pairs with a zero gradient left out).
///
/// Two paths, one result (docs/theory.md, "Per-sample gradient statistics"):
///  - factored, when every layer with parameters has Layer::sampleGradientFactors() and sees one timestep: one
///    forward and one backward of the batch with each sample's own output gradient, then from a layer's factors
///    g_i = a_i b_i^T: ||g_i||^2 = ||a_i||^2 ||b_i||^2, sum_i g_i o g_i = (A o A)(B o B)^T and
///    <g_i, g_j> = (A^T A o B^T B)_ij: about one more backward's products, no per-sample loop;
///  - batch-of-one otherwise (or with `method: batch_of_one`): B backward passes of one sample each (a sequence
///    is one sample), the per-sample gradients kept as the columns of a [D x B] float64 matrix (D parameters).
/// Where a layer couples the samples in the probe's phase (batch norm in training) no sample has a gradient of its
/// own: the rows are NaN and the group's `note` attribute says why; `phase: eval` makes batch norm a per-sample map.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gradlab/probe_schema.hpp"
#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;
using MatrixD = Eigen::MatrixXd;
using VectorD = Eigen::VectorXd;
namespace schema = gradlab::probeSchema::gradientNoise;

/// What every statistic is computed from, per parameter p: the sum of the per-sample gradients, the sum of their
/// element-wise squares, and each sample's squared norm; for the model, the Gram matrix <g_i, g_j>.
struct Ingredients {
    std::vector<MatrixD> gradientSum;    ///< sum_i g_i,p, [rows x cols] of p
    std::vector<MatrixD> squareSum;      ///< sum_i g_i,p o g_i,p
    MatrixD sampleSquares;               ///< [B x P], ||g_i,p||^2
    MatrixD gram;                        ///< [B x B], <g_i, g_j> over the whole parameter vector (lower triangle)

    void reset(std::size_t parameters, Index samples) {
        gradientSum.resize(parameters);
        squareSum.resize(parameters);
        sampleSquares.setZero(samples, static_cast<Index>(parameters));
        gram.setZero(samples, samples);
    }
};

/// A matrix in float64 (a copy, in either precision).
template <typename Scalar>
MatrixD toDouble(const gradlab::Matrix<Scalar>& matrix) {
    return matrix.template cast<double>();
}

template <typename Scalar>
class GradientNoise : public gradlab::Probe<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    explicit GradientNoise(const gradlab::Options& options)
        : phase_(options.string("phase") == "eval" ? gradlab::Phase::eval : gradlab::Phase::train),
          batchOfOne_(options.string("method") == "batch_of_one") {}

    void observe(gradlab::ProbeContext<Scalar>& context) override {
        const auto start = std::chrono::steady_clock::now();
        const Index samples = context.batchSize();
        if (samples < 2)
            throw gradlab::Error("gradient_noise: a probe batch of " + std::to_string(samples) +
                                 " sample has no per-sample variance; give batch: 2 or more");
        const std::size_t parameters = context.parameterCount();
        std::string note;
        for (std::size_t l = 0; l < context.layers().size() && note.empty(); ++l)
            if (context.couplesSamples(l, phase_))
                note = context.layers()[l].name + " couples the samples in the " +
                       (phase_ == gradlab::Phase::train ? "train" : "eval") +
                       " phase (batch statistics): no sample has a gradient of its own; phase: eval maps each "
                       "sample alone";
        context.setAttribute("", schema::note, note);
        bool factored = false;
        if (note.empty()) {
            ingredients_.reset(parameters, samples);
            factored = !batchOfOne_ && fromFactors(context);
            if (!factored) fromBatchesOfOne(context);
        }
        writeStatistics(context, note.empty(), factored, samples, start);
    }

private:
    /// The factored path; false (nothing usable written) when some layer has no factors or sees a sequence.
    bool fromFactors(gradlab::ProbeContext<Scalar>& context) {
        const auto& layers = context.layers();
        for (const gradlab::LayerInfo& layer : layers)
            if (layer.parameterCount > 0 && (layer.input.timesteps != 1 || layer.output.timesteps != 1)) return false;
        context.forward(context.batch(), phase_);
        context.backward(context.sampleLossGradients(context.batchTargets()));
        std::vector<gradlab::SampleGradientFactor<Scalar>> factors;
        std::vector<std::vector<gradlab::SampleGradientFactor<Scalar>>> all(layers.size());
        for (std::size_t l = 0; l < layers.size(); ++l)
            if (layers[l].parameterCount > 0 && !context.sampleGradientFactors(l, all[l])) return false;
        // The products in the run's precision (the factors carry no more), accumulated in float64.
        for (std::size_t l = 0; l < layers.size(); ++l) {
            for (std::size_t k = 0; k < all[l].size(); ++k) {
                const std::size_t p = layers[l].firstParameter + k;
                const gradlab::SampleGradientFactor<Scalar>& factor = all[l][k];
                ingredients_.gradientSum[p] = toDouble(context.scratchGradient(p));  // sum_i g_i, the backward's
                squaredLeft_ = factor.left->cwiseAbs2();
                const VectorD leftNorms = squaredLeft_.colwise().sum().transpose().template cast<double>();
                lowerGram(*factor.left, leftGram_);
                if (factor.right != nullptr) {
                    squaredRight_ = factor.right->cwiseAbs2();
                    product_.noalias() = squaredLeft_ * squaredRight_.transpose();
                    ingredients_.squareSum[p] = toDouble(product_);
                    ingredients_.sampleSquares.col(static_cast<Index>(p)) =
                        leftNorms.cwiseProduct(squaredRight_.colwise().sum().transpose().template cast<double>());
                    lowerGram(*factor.right, rightGram_);
                    ingredients_.gram.array() +=
                        leftGram_.template cast<double>().array() * rightGram_.template cast<double>().array();
                } else {  // a bias: b_i = 1
                    ingredients_.squareSum[p] = squaredLeft_.rowwise().sum().template cast<double>();
                    ingredients_.sampleSquares.col(static_cast<Index>(p)) = leftNorms;
                    ingredients_.gram += leftGram_.template cast<double>();
                }
            }
        }
        return true;
    }

    /// gram = the lower triangle of factor^T factor (the upper one zero): a symmetric rank update, half the
    /// products of the full B x B matrix.
    static void lowerGram(const MatrixType& factor, MatrixType& gram) {
        gram.setZero(factor.cols(), factor.cols());
        gram.template selfadjointView<Eigen::Lower>().rankUpdate(factor.transpose());
    }

    /// The batch-of-one path: sample i's gradient from a loss gradient of the batch of sample i alone.
    void fromBatchesOfOne(gradlab::ProbeContext<Scalar>& context) {
        const std::size_t parameters = context.parameterCount();
        const Index samples = context.batchSize();
        std::vector<Index> offsets;
        Index size = 0;
        for (std::size_t p = 0; p < parameters; ++p) {
            offsets.push_back(size);
            size += context.parameterValue(p).size();
        }
        const double bytes = 8.0 * static_cast<double>(size) * static_cast<double>(samples);
        if (bytes > maxBytes)
            throw gradlab::Error("gradient_noise: the batch-of-one path keeps every per-sample gradient, " +
                                 std::to_string(size) + " parameters x " + std::to_string(samples) + " samples x 8 bytes = " +
                                 std::to_string(bytes / (1 << 30)) + " GiB, above its 2 GiB; give a smaller probe batch (batch: N)");
        gradients_.resize(size, samples);
        const MatrixType& batch = context.batch();
        const MatrixType& targets = context.batchTargets();
        const Index inputSteps = batch.cols() / samples, targetSteps = targets.cols() / samples;
        sampleInput_.resize(batch.rows(), inputSteps);
        sampleTargets_.resize(targets.rows(), targetSteps);
        for (Index i = 0; i < samples; ++i) {
            for (Index t = 0; t < inputSteps; ++t) sampleInput_.col(t) = batch.col(t * samples + i);
            for (Index t = 0; t < targetSteps; ++t) sampleTargets_.col(t) = targets.col(t * samples + i);
            context.lossGradient(sampleInput_, sampleTargets_, phase_);
            for (std::size_t p = 0; p < parameters; ++p) {
                const MatrixType& g = context.scratchGradient(p);
                gradients_.col(i).segment(offsets[p], g.size()) =
                    Eigen::Map<const MatrixType>(g.data(), g.size(), 1).template cast<double>();
            }
        }
        for (std::size_t p = 0; p < parameters; ++p) {
            const MatrixType& value = context.parameterValue(p);
            const auto block = gradients_.middleRows(offsets[p], value.size());
            // Column j of the block is parameter p's column-major elements: back to [rows x cols].
            const VectorD sum = block.rowwise().sum(), squares = block.cwiseAbs2().rowwise().sum();
            ingredients_.gradientSum[p] = Eigen::Map<const MatrixD>(sum.data(), value.rows(), value.cols());
            ingredients_.squareSum[p] = Eigen::Map<const MatrixD>(squares.data(), value.rows(), value.cols());
            ingredients_.sampleSquares.col(static_cast<Index>(p)) = block.cwiseAbs2().colwise().sum().transpose();
        }
        ingredients_.gram.noalias() = gradients_.transpose() * gradients_;
    }

    /// Every table of this step from the ingredients (NaN rows when `valid` is false).
    void writeStatistics(gradlab::ProbeContext<Scalar>& context, bool valid, bool factored, Index samples,
                         std::chrono::steady_clock::time_point start) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        const Index parameters = static_cast<Index>(context.parameterCount());
        const double count = static_cast<double>(samples);
        VectorD gradNorm = VectorD::Constant(parameters, nan), meanSampleNorm = gradNorm, squareSum = gradNorm,
                covTrace = gradNorm, gsnr = gradNorm;
        double modelGradSq = nan, modelSquares = nan, modelCov = nan, modelGsnr = nan, noiseScale = nan, confusion = nan;
        if (valid) {
            modelGradSq = modelSquares = modelCov = 0;
            double ratioSum = 0, ratioCount = 0;
            for (Index p = 0; p < parameters; ++p) {
                const MatrixD mean = ingredients_.gradientSum[static_cast<std::size_t>(p)] / count;
                const MatrixD& squares = ingredients_.squareSum[static_cast<std::size_t>(p)];
                const double meanSq = mean.squaredNorm();
                gradNorm(p) = std::sqrt(meanSq);
                squareSum(p) = ingredients_.sampleSquares.col(p).sum();
                meanSampleNorm(p) = ingredients_.sampleSquares.col(p).cwiseSqrt().sum() / count;
                covTrace(p) = (squareSum(p) - count * meanSq) / (count - 1);
                double ratios = 0, counted = 0;
                for (Index j = 0; j < mean.size(); ++j) {
                    const double centred = squares(j) - count * mean(j) * mean(j);
                    if (!(centred > zeroVariance * squares(j))) continue;  // Var_j = 0 to rounding
                    ratios += mean(j) * mean(j) / (centred / (count - 1));
                    ++counted;
                }
                gsnr(p) = counted > 0 ? ratios / counted : nan;
                ratioSum += ratios;
                ratioCount += counted;
                modelGradSq += meanSq;
                modelSquares += squareSum(p);
                modelCov += covTrace(p);
            }
            modelGsnr = ratioCount > 0 ? ratioSum / ratioCount : nan;
            noiseScale = modelCov / modelGradSq;
            const MatrixD& gram = ingredients_.gram;
            for (Index j = 0; j < samples; ++j)
                for (Index i = j + 1; i < samples; ++i) {  // the lower triangle, which both paths fill
                    const double norms = std::sqrt(gram(i, i) * gram(j, j));
                    if (!(norms > 0)) continue;
                    const double cosine = gram(i, j) / norms;
                    if (std::isnan(confusion) || cosine < confusion) confusion = cosine;
                }
        }
        const double modelGradNorm = std::sqrt(modelGradSq), factoredValue = valid ? (factored ? 1.0 : 0.0) : nan;
        context.write(schema::gradNorm, {parameters}, gradNorm.data());
        context.write(schema::meanSampleGradNorm, {parameters}, meanSampleNorm.data());
        context.write(schema::sampleGradSqSum, {parameters}, squareSum.data());
        context.write(schema::covTrace, {parameters}, covTrace.data());
        context.write(schema::gsnr, {parameters}, gsnr.data());
        context.write(schema::modelGradNorm, {}, &modelGradNorm);
        context.write(schema::modelSampleGradSqSum, {}, &modelSquares);
        context.write(schema::modelCovTrace, {}, &modelCov);
        context.write(schema::modelGsnr, {}, &modelGsnr);
        context.write(schema::noiseScale, {}, &noiseScale);
        context.write(schema::confusion, {}, &confusion);
        context.write(schema::samples, {}, &count);
        context.write(schema::factored, {}, &factoredValue);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        context.write(schema::seconds, {}, &seconds);
    }

    /// sum_i g_ij^2 - B G_j^2 at or below this share of sum_i g_ij^2 is a zero variance: 64 eps of the run's
    /// precision, the rounding the per-sample gradients (and the factored products) carry.
    static constexpr double zeroVariance = 64 * static_cast<double>(std::numeric_limits<Scalar>::epsilon());
    /// The most the batch-of-one path keeps in per-sample gradients.
    static constexpr double maxBytes = 2.0 * (1 << 30);

    gradlab::Phase phase_;
    bool batchOfOne_;
    Ingredients ingredients_;
    MatrixD gradients_;                       ///< batch-of-one: g_i as column i, [D x B]
    MatrixType leftGram_, rightGram_;         ///< factored: one factor's Gram matrix (lower triangle)
    MatrixType squaredLeft_, squaredRight_, product_;  ///< factored: A o A, B o B, (A o A)(B o B)^T
    MatrixType sampleInput_, sampleTargets_;  ///< batch-of-one: sample i's input and targets
};

}  // namespace

GRADLAB_PLUGIN("gradlab_probes_gradient_noise", "1.0.0", registry) {
    registry
        .addProbe<GradientNoise>("gradient_noise",
                                 "per-sample gradient statistics on the probe batch, per parameter and for the model: "
                                 "norms, covariance trace, GSNR (Liu et al. 2020), noise scale B_simple (McCandlish et "
                                 "al. 2018), gradient confusion (Sankararaman et al. 2020)")
        .option(gradlab::OptionSpec::choice("phase", "train", {"train", "eval"},
                                            "the forward phase the per-sample gradients are taken in (batch norm: "
                                            "train couples the samples, which the probe refuses; eval is per sample)"))
        .option(gradlab::OptionSpec::choice("method", "auto", {"auto", "batch_of_one"},
                                            "auto: from the layers' per-sample gradient factors when every layer with "
                                            "parameters has them (dense, batch norm in eval, residual of them) and sees one timestep, else "
                                            "batch-of-one backward passes; batch_of_one: always the latter"));
}
