/// @file jacobian_spectrum.cpp
/// The jacobian_spectrum probe: singular values of the input-output Jacobian J = dy/dx of single examples
/// (Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical
/// isometry", NeurIPS), and of the partial Jacobians dy/dh_l from chosen layers (`from:`), with the
/// free-probability prediction beside them; y is the network's output or layer `to:`'s. For each recurrent
/// layer and each t of `timesteps:`, the Jacobian across time dh_{T-1}/dh_t of its state (exact path only).
///
/// Exact path (per-sample output size K <= exact_limit): each of the n examples is repeated K times in one
/// eval-phase batch of n K columns, and one backward with the block identity as upstream (column i K + k is
/// e_k) gives every row of every J_i at once (column i K + k of dy/dx is J_i^T e_k), and of every partial
/// Jacobian at the layers' signals; cost O(L N^2 n K), O(L N^3) per example for width N. Singular values by
/// Eigen's BDCSVD in float64.
///
/// Lanczos path (K > exact_limit): Spectra's SymEigsSolver on J^T J, whose product with v is one forward of
/// the three columns [x, x + h u, x - h u] (u = v / ||v||) and one backward with upstream [J v, 0, 0], where
/// J v = ||v|| (y(x + h u) - y(x - h u)) / (2 h) (a central difference), h = eps^(1/3) max(1, ||x||): the
/// relative error of J^T J v is O(h^2 + eps / h), about 1e-10 in float64 and 1e-5 in float32 runs (the
/// probe differentiates in the run's precision). It gives the `lanczos_values` largest and smallest singular
/// values; quantiles other than 0 and 100 %, mean_sq and var_sq are then NaN.

#include <Spectra/SymEigsSolver.h>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gradlab/probe_schema.hpp"
#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;
using Vector = Eigen::VectorXd;

namespace schema = gradlab::probeSchema::jacobianSpectrum;
namespace probeSchema = gradlab::probeSchema;

/// The quantiles every Jacobian's spectrum is summarised by (schema::quantilePercents).
constexpr Index quantileCount = schema::quantileCount;

/// Columns of replicated examples one exact pass pushes through the network at most (more examples than that
/// go in several passes, so that the replicas' activations stay a few tens of megabytes at width 1024).
constexpr Index columnsPerPass = 2048;

/// Summaries of one spectrum (singular values, descending).
struct Summary {
    double quantiles[quantileCount];
    double meanSq = NAN, varSq = NAN, max = NAN, min = NAN, logCondition = NAN;
};

/// Quantile p (percent) of ascending `sorted` by linear interpolation between order statistics.
double quantile(const std::vector<double>& sorted, double percent) {
    const double position = percent / 100.0 * static_cast<double>(sorted.size() - 1);
    const std::size_t below = static_cast<std::size_t>(std::floor(position));
    const std::size_t above = std::min(below + 1, sorted.size() - 1);
    const double fraction = position - static_cast<double>(below);
    return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

/// Quantiles, mean and variance of sigma^2, extremes and ln(max / min) of a full spectrum.
Summary summarise(const Vector& singular) {
    Summary summary;
    std::vector<double> sorted(singular.data(), singular.data() + singular.size());
    std::sort(sorted.begin(), sorted.end());
    for (Index q = 0; q < quantileCount; ++q) summary.quantiles[q] = quantile(sorted, schema::quantilePercents[q]);
    const Vector squares = singular.array().square();
    summary.meanSq = squares.mean();
    summary.varSq = (squares.array() - summary.meanSq).square().mean();
    summary.max = sorted.back();
    summary.min = sorted.front();
    summary.logCondition = std::log(summary.max / summary.min);
    return summary;
}

/// One Jacobian's tables: `prefix` is "" for dy/dx, "from/<layer name>/" for a partial one.
struct JacobianTables {
    JacobianTables(std::string tablePrefix, Index valueCount) : prefix(std::move(tablePrefix)), values(valueCount) {}

    std::string prefix;
    Index values = 0;  ///< singular values per example
    std::vector<double> singular, quantiles, meanSq, varSq, max, min, logCondition;

    void resize(Index examples) {
        singular.assign(static_cast<std::size_t>(examples * values), NAN);
        quantiles.assign(static_cast<std::size_t>(examples * quantileCount), NAN);
        for (auto* table : {&meanSq, &varSq, &max, &min, &logCondition}) table->assign(static_cast<std::size_t>(examples), NAN);
    }
    void set(Index example, const Vector& singularValues, const Summary& summary) {
        for (Index k = 0; k < std::min(values, singularValues.size()); ++k)
            singular[static_cast<std::size_t>(example * values + k)] = singularValues(k);
        for (Index q = 0; q < quantileCount; ++q)
            quantiles[static_cast<std::size_t>(example * quantileCount + q)] = summary.quantiles[q];
        const std::size_t i = static_cast<std::size_t>(example);
        meanSq[i] = summary.meanSq;
        varSq[i] = summary.varSq;
        max[i] = summary.max;
        min[i] = summary.min;
        logCondition[i] = summary.logCondition;
    }
};

/// Per-sample vector of a batch matrix [features x (timesteps * batch)]: the sample's columns, timestep by
/// timestep, stacked.
template <typename Scalar>
Vector sampleVector(const gradlab::Matrix<Scalar>& m, Index timesteps, Index batch, Index sample) {
    const Index features = m.rows();
    Vector v(features * timesteps);
    for (Index t = 0; t < timesteps; ++t)
        v.segment(t * features, features) = m.col(t * batch + sample).template cast<double>();
    return v;
}

/// Writes per-sample vector v into column `sample` of every timestep of m.
template <typename Scalar>
void setSample(gradlab::Matrix<Scalar>& m, Index timesteps, Index batch, Index sample, const Vector& v) {
    const Index features = m.rows();
    for (Index t = 0; t < timesteps; ++t)
        m.col(t * batch + sample) = v.segment(t * features, features).template cast<Scalar>();
}

/// J^T J for one example x, as Spectra's symmetric operator: J v by a central difference of two forwards,
/// J^T (J v) by one exact backward, all in one forward of three columns and one backward (see the file comment).
template <typename RunScalar>
class GramOperator {
public:
    using Scalar = double;  // Spectra's element type
    using MatrixType = gradlab::Matrix<RunScalar>;

    GramOperator(gradlab::ProbeContext<RunScalar>& context, Vector x, Index inputSteps, Index outputSteps, std::size_t top)
        : context_(&context), x_(std::move(x)), inputSteps_(inputSteps), outputSteps_(outputSteps), top_(top) {
        step_ = std::cbrt(static_cast<double>(std::numeric_limits<RunScalar>::epsilon())) * std::max(1.0, x_.norm());
    }
    Index rows() const { return x_.size(); }
    Index cols() const { return x_.size(); }

    /// out = J^T J in, for Spectra.
    void perform_op(const double* in, double* out) const {
        const Eigen::Map<const Vector> v(in, x_.size());
        Eigen::Map<Vector> result(out, x_.size());
        const double norm = v.norm();
        if (!(norm > 0)) {
            result.setZero();
            return;
        }
        const Vector u = v / norm;
        batch_.resize(x_.size() / inputSteps_, 3 * inputSteps_);
        setSample(batch_, inputSteps_, 3, 0, x_);
        setSample(batch_, inputSteps_, 3, 1, Vector(x_ + step_ * u));
        setSample(batch_, inputSteps_, 3, 2, Vector(x_ - step_ * u));
        context_->forward(batch_, gradlab::Phase::eval);
        const MatrixType& y = context_->layerOutput(top_);
        const Vector jv = norm * (sampleVector(y, outputSteps_, 3, 1) - sampleVector(y, outputSteps_, 3, 2)) / (2 * step_);
        upstream_.setZero(y.rows(), y.cols());
        setSample(upstream_, outputSteps_, 3, 0, jv);
        result = sampleVector(context_->backwardSignal(upstream_, top_), inputSteps_, 3, 0);
    }

private:
    gradlab::ProbeContext<RunScalar>* context_;
    Vector x_;
    Index inputSteps_, outputSteps_;
    std::size_t top_;  ///< the layer whose output y is
    double step_ = 0;
    mutable MatrixType batch_, upstream_;
};

/// The `count` extreme eigenvalues of `op` by Lanczos (`rule`: LargestAlge or SmallestAlge), sorted
/// descending; throws Error when Spectra does not converge.
template <typename Operator>
Vector extremeEigenvalues(Operator& op, Index count, Spectra::SortRule rule) {
    const Index size = op.rows();
    const Index ncv = std::min(size, std::max<Index>(2 * count + 1, 20));
    Spectra::SymEigsSolver<Operator> solver(op, count, ncv);
    solver.init();
    solver.compute(rule, 1000, 1e-10, Spectra::SortRule::LargestAlge);
    if (solver.info() != Spectra::CompInfo::Successful)
        throw gradlab::Error("Lanczos on J^T J did not converge (" + std::to_string(count) + " eigenvalues of " +
                             std::to_string(size) + ", 1000 restarts, tolerance 1e-10)");
    return solver.eigenvalues();
}

/// The probe itself, in the run's precision.
template <typename Scalar>
class JacobianSpectrum : public gradlab::Probe<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    explicit JacobianSpectrum(const gradlab::Options& options)
        : examples_(options.integer("examples")),
          exactLimit_(options.integer("exact_limit")),
          maxValues_(options.integer("max_values")),
          lanczosValues_(options.integer("lanczos_values")) {}

    void observe(gradlab::ProbeContext<Scalar>& context) override {
        const auto& layers = context.layers();
        if (examples_ > context.batchSize())
            throw gradlab::Error("examples " + std::to_string(examples_) + " is more than the probe batch (" +
                                 std::to_string(context.batchSize()) + " samples; raise 'batch')");
        const gradlab::Shape input = context.inputShape();
        const std::size_t top = context.toLayer();
        const gradlab::Shape output = layers[top].output;
        const Index inputSize = input.features * input.timesteps;
        const Index outputSize = output.features * output.timesteps;
        if (tables_.empty()) {
            tables_.emplace_back("", std::min(inputSize, outputSize));
            for (std::size_t l : context.fromLayers()) {
                const gradlab::Shape shape = layers[l].output;
                tables_.emplace_back(std::string(schema::fromGroup) + "/" + layers[l].name + "/",
                                     std::min(shape.features * shape.timesteps, outputSize));
            }
            for (std::size_t l = 0; l <= top && !context.timesteps().empty(); ++l)
                if (layers[l].recurrent)
                    for (std::size_t k = 0; k < context.timesteps().size(); ++k)
                        stateTables_.push_back({l, k,
                                                JacobianTables(std::string(schema::timestepsGroup) + "/" + layers[l].name + "/" +
                                                                   std::to_string(context.timesteps()[k]) + "/",
                                                               layers[l].output.features)});
        }
        const bool exact = outputSize <= exactLimit_;
        for (auto& tables : tables_) {
            if (!exact) tables.values = std::min(tables.values, 2 * lanczosValues_);
            tables.resize(examples_);
        }
        if (exact)
            exactSpectra(context, input, output, outputSize);
        else
            lanczosSpectra(context, input, output);
        for (auto& state : stateTables_) state.tables.resize(examples_);
        for (std::size_t l = 0; l <= top && !stateTables_.empty(); ++l)
            if (layers[l].recurrent && layers[l].output.features <= exactLimit_) stateSpectra(context, input, l);
        for (const auto& tables : tables_) write(context, tables);
        for (const auto& state : stateTables_) write(context, state.tables);
        if (context.step() == 0 || !theoryWritten_) writeTheory(context);
    }

private:
    /// Every Jacobian of every example: each example replicated K times (K = per-sample output size), one
    /// eval-phase forward of the replicas, one backward with the block identity as upstream (replica k of example
    /// i gets e_k), so that replica k's input gradient is row k of J_i (and its signal at layer l row k of the
    /// partial Jacobian). As many examples per pass as fit in columnsPerPass columns.
    void exactSpectra(gradlab::ProbeContext<Scalar>& context, const gradlab::Shape& input, const gradlab::Shape& output,
                      Index outputSize) {
        const Index batch = context.batchSize();
        const MatrixType& x = context.batch();
        const Index perPass = std::max<Index>(1, std::min(examples_, columnsPerPass / outputSize));
        for (Index first = 0; first < examples_; first += perPass) {
            const Index count = std::min(perPass, examples_ - first);
            const Index columns = count * outputSize;  // replicas: example i, output coordinate k
            replicate(x, batch, input.timesteps, first, count, outputSize);
            context.forward(replicated_, gradlab::Phase::eval);
            const MatrixType& y = context.layerOutput(context.toLayer());
            upstream_.setZero(y.rows(), y.cols());
            for (Index i = 0; i < count; ++i)
                for (Index t = 0; t < output.timesteps; ++t)
                    upstream_.block(0, t * columns + i * outputSize + t * output.features, output.features,
                                    output.features)
                        .setIdentity();
            const MatrixType& dx = context.backwardSignal(upstream_, context.toLayer());
            for (std::size_t j = 0; j < tables_.size(); ++j) {
                const std::size_t layer = j == 0 ? 0 : context.fromLayers()[j - 1];
                const MatrixType& gradient = j == 0 ? dx : context.signal(layer);
                const Index steps = j == 0 ? input.timesteps : context.layers()[layer].output.timesteps;
                const Index features = gradient.rows();
                jacobianT_.resize(features * steps, outputSize);  // J_i^T: column k = J_i^T e_k
                for (Index i = 0; i < count; ++i) {
                    for (Index t = 0; t < steps; ++t)
                        jacobianT_.middleRows(t * features, features) =
                            gradient.middleCols(t * columns + i * outputSize, outputSize).template cast<double>();
                    if (!jacobianT_.allFinite()) continue;  // a diverged model: its row stays NaN
                    const Vector singular = Eigen::BDCSVD<Eigen::MatrixXd>(jacobianT_).singularValues();
                    tables_[j].set(first + i, singular, summarise(singular));
                }
            }
        }
    }

    /// replicated_ = examples [first, first + count) of the batch x, each repeated `copies` times, in the
    /// layers' timestep-major layout (replica k of example i in column t * count * copies + i * copies + k).
    void replicate(const MatrixType& x, Index batch, Index timesteps, Index first, Index count, Index copies) {
        const Index columns = count * copies;
        replicated_.resize(x.rows(), timesteps * columns);
        for (Index t = 0; t < timesteps; ++t)
            for (Index i = 0; i < count; ++i)
                replicated_.middleCols(t * columns + i * copies, copies) = x.col(t * batch + first + i).replicate(1, copies);
    }

    /// dh_{T-1}/dh_t of recurrent layer `layer` for each t of timesteps(), exactly: each example replicated H
    /// times (H = the state's size), one forward, one backward from the layer with e_j at its last step for
    /// replica j, whose kept state gradient at step t is row j of dh_{T-1}/dh_t.
    void stateSpectra(gradlab::ProbeContext<Scalar>& context, const gradlab::Shape& input, std::size_t layer) {
        const gradlab::LayerInfo& info = context.layers()[layer];
        const Index units = info.output.features;
        const Index batch = context.batchSize();
        const Index perPass = std::max<Index>(1, std::min(examples_, columnsPerPass / units));
        for (Index first = 0; first < examples_; first += perPass) {
            const Index count = std::min(perPass, examples_ - first);
            const Index columns = count * units;
            replicate(context.batch(), batch, input.timesteps, first, count, units);
            context.forward(replicated_, gradlab::Phase::eval);
            const MatrixType& h = context.layerOutput(layer);  // h_{T-1}, or every h_t (return_sequences)
            upstream_.setZero(h.rows(), h.cols());
            const Index last = h.cols() - columns;  // the columns of the last step
            for (Index i = 0; i < count; ++i) upstream_.block(0, last + i * units, units, units).setIdentity();
            context.backwardSignal(upstream_, layer);
            for (StateTables& state : stateTables_) {
                if (state.layer != layer) continue;
                const MatrixType& gradient = context.stateGradient(layer, state.timestep);
                for (Index i = 0; i < count; ++i) {
                    jacobianT_ = gradient.middleCols(i * units, units).template cast<double>();
                    if (!jacobianT_.allFinite()) continue;
                    const Vector singular = Eigen::BDCSVD<Eigen::MatrixXd>(jacobianT_).singularValues();
                    state.tables.set(first + i, singular, summarise(singular));
                }
            }
        }
    }

    /// The largest and smallest singular values of dy/dx by Lanczos on J^T J (partial Jacobians: not on this
    /// path; their rows stay NaN).
    void lanczosSpectra(gradlab::ProbeContext<Scalar>& context, const gradlab::Shape& input, const gradlab::Shape& output) {
        const Index inputSize = input.features * input.timesteps;
        const Index count = std::min(lanczosValues_, inputSize - 1);
        if (count < 1) throw gradlab::Error("the Lanczos path needs inputs of at least 2 values");
        for (Index i = 0; i < examples_; ++i) {
            const Vector x = sampleVector(context.batch(), input.timesteps, context.batchSize(), i);
            GramOperator<Scalar> op(context, x, input.timesteps, output.timesteps, context.toLayer());
            const Vector largest = extremeEigenvalues(op, count, Spectra::SortRule::LargestAlge);
            const Vector smallest = extremeEigenvalues(op, count, Spectra::SortRule::SmallestAlge);
            Vector singular(2 * count);
            singular << largest, smallest;
            singular = singular.array().max(0.0).sqrt();
            Summary summary;
            for (double& q : summary.quantiles) q = NAN;
            summary.max = singular(0);
            summary.min = singular(2 * count - 1);
            summary.quantiles[0] = summary.min;
            summary.quantiles[quantileCount - 1] = summary.max;
            summary.logCondition = std::log(summary.max / summary.min);
            tables_[0].set(i, singular, summary);
        }
    }

    void write(gradlab::ProbeContext<Scalar>& context, const JacobianTables& tables) {
        const std::string& prefix = tables.prefix;
        if (tables.values <= maxValues_)
            context.write(prefix + schema::singularValues, {examples_, tables.values}, tables.singular.data());
        context.write(prefix + schema::quantiles, {examples_, quantileCount}, tables.quantiles.data());
        context.write(prefix + schema::meanSq, {examples_}, tables.meanSq.data());
        context.write(prefix + schema::varSq, {examples_}, tables.varSq.data());
        context.write(prefix + schema::max, {examples_}, tables.max.data());
        context.write(prefix + schema::min, {examples_}, tables.min.data());
        context.write(prefix + schema::logCondition, {examples_}, tables.logCondition.data());
    }

    /// /probes/<name>/theory: the free-probability prediction at the mean-field fixed point (docs/theory.md,
    /// "The input-output Jacobian's spectrum"): mean of sigma^2 = chi^L, var / mean^2 = L mu_2 / mu_1^2 for
    /// i.i.d. weights and L (mu_2 / mu_1^2 - 1) for orthogonal ones, to leading order in L / N.
    void writeTheory(gradlab::ProbeContext<Scalar>& context) {
        namespace theory = schema::theory;
        theoryWritten_ = true;
        const gradlab::MeanFieldView& view = context.meanField();
        std::string whyNot;
        std::string weights;
        if (context.toLayer() + 1 != context.layers().size())
            whyNot = "the probe ends at " + context.layers()[context.toLayer()].name +
                     " (to:), not at the network's output, which the prediction is for";
        else if (!view.applies)
            whyNot = view.note;
        else if (!view.squareLayers)
            whyNot = "a dense layer is not square (the formulas take N x N weights)";
        else if (view.activationLayers != view.denseLayers)
            whyNot = "not every dense layer is followed by the activation (" + std::to_string(view.activationLayers) +
                     " activations for " + std::to_string(view.denseLayers) + " dense layers)";
        else if (view.weightInit == "orthogonal")
            weights = "orthogonal";
        else if (view.weightInit.find("normal") != std::string::npos || view.weightInit.find("uniform") != std::string::npos)
            weights = "iid";
        else
            whyNot = "weights initialised by '" + view.weightInit + "', neither i.i.d. nor orthogonal";
        if (!whyNot.empty()) {
            context.setAttribute(probeSchema::theoryGroup, theory::applies, 0.0);
            context.setAttribute(probeSchema::theoryGroup, theory::note, "no free-probability prediction: " + whyNot);
            return;
        }
        const double depth = static_cast<double>(view.denseLayers);
        const double ratio = view.mu2 / (view.mu1 * view.mu1);
        const auto set = [&](const char* key, double value) { context.setAttribute(probeSchema::theoryGroup, key, value); };
        set(theory::applies, 1.0);
        context.setAttribute(probeSchema::theoryGroup, theory::weights, weights);
        context.setAttribute(probeSchema::theoryGroup, theory::activation, view.activation);
        set(theory::depth, depth);
        set(theory::width, static_cast<double>(view.width));
        set(theory::chi, view.chi1);
        set(theory::qStar, view.qStar);
        set(theory::mu1, view.mu1);
        set(theory::mu2, view.mu2);
        set(theory::meanSq, std::pow(view.chi1, depth));
        set(theory::normalisedVarSq, weights == "orthogonal" ? depth * (ratio - 1.0) : depth * ratio);
        context.setAttribute(probeSchema::theoryGroup, theory::note,
                             "to leading order in L/N at the fixed point q* (inputs whose first pre-activations have "
                             "variance q*); " + view.note);
    }

    /// The tables of dh_{T-1}/dh_t for one recurrent layer and one of timesteps() (index `timestep`).
    struct StateTables {
        std::size_t layer;
        std::size_t timestep;
        JacobianTables tables;
    };

    Index examples_, exactLimit_, maxValues_, lanczosValues_;
    std::vector<JacobianTables> tables_;
    std::vector<StateTables> stateTables_;
    MatrixType replicated_, upstream_;
    Eigen::MatrixXd jacobianT_;
    bool theoryWritten_ = false;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_probes_jacobian_spectrum", "1.0.0", registry) {
    registry
        .addProbe<JacobianSpectrum>("jacobian_spectrum",
                                    "singular values of the input-output Jacobian dy/dx per example, and of the partial "
                                    "Jacobians from the layers of `from: [...]` (Pennington et al. 2017)")
        .option(gradlab::OptionSpec::integer("examples", 8, "examples of the probe batch whose Jacobians are measured")
                    .min(1))
        .option(gradlab::OptionSpec::integer("exact_limit", 1024,
                                             "largest per-sample output size for the exact path (identity pushed "
                                             "through one backward); above it, Lanczos on J^T J")
                    .min(1))
        .option(gradlab::OptionSpec::integer("max_values", 1024,
                                             "singular_values is written when a spectrum has at most this many values")
                    .min(1))
        .option(gradlab::OptionSpec::integer("lanczos_values", 8,
                                             "Lanczos path: the largest and the smallest this many singular values")
                    .min(1));
}
