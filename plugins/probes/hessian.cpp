/// @file hessian.cpp
/// The hessian probe: curvature of the training loss L(theta) at the current parameters on the probe batch
/// (`batch: all`: the whole training set, the loss full-batch gradient descent descends). The `top` largest
/// and the `bottom` most negative eigenvalues of the Hessian H = d^2 L / d theta^2 by Lanczos (Spectra's
/// SymEigsSolver), and Hutchinson's estimate of its trace, tr H ~ (1/m) sum_j z_j^T H z_j with m Rademacher
/// vectors z_j (Hutchinson 1990). The largest eigenvalue is the "sharpness" of Cohen et al. (2021, "Gradient
/// descent on neural networks typically occurs at the edge of stability", ICLR): under full-batch gradient
/// descent at rate lr it rises to 2/lr and hovers there, which is why the probe writes lr and 2/lr beside it.
///
/// Hessian-vector products by central differences of the loss gradient (ProbeContext::lossGradient, loss
/// only, no regularizer penalties):
///
///     H v ~ (g(theta + h u) - g(theta - h u)) ||v|| / (2 h),  u = v / ||v||,  h = eps^(1/3) (1 + ||theta||),
///
/// eps the run precision's machine epsilon: the error is O(h^2 ||d^3 L||) from truncation plus
/// O(eps ||g|| / h) from rounding, balanced by h ~ eps^(1/3); the (1 + ||theta||) factor makes the step
/// relative to the parameters' scale. Measured (docs/hdf5-schema.md, tests/plugins/probes/hessian_test.cpp):
/// eigenvalues within 1e-8 relative of the exact ones in float64 runs. Two gradient evaluations per product;
/// the products are exact for a loss quadratic in theta (a linear model under mse) up to rounding.
///
/// Lanczos runs to the relative tolerance `tolerance` (Spectra: residual below tolerance * |lambda|); the most
/// negative eigenvalues are found as the smallest of H - lambda_1 I (lambda_1 the largest), so that their
/// tolerance is relative to the spectrum's scale, not to their own, often tiny, size.

#include <Spectra/SymEigsSolver.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;
using Vector = Eigen::VectorXd;

/// The relative Lanczos tolerance `tolerance: 0` stands for, by the run's precision: the float32 products
/// carry errors near 1e-4 of the spectrum's scale, which a tighter tolerance would never get below.
template <typename Scalar>
constexpr double automaticTolerance = std::is_same<Scalar, double>::value ? 1e-8 : 1e-3;

/// The Hessian of the probe's loss as Spectra's symmetric operator, y = (H - shift I) x, each product two
/// gradient evaluations at theta +- h u inside a ScopedPerturbation (see the file comment).
template <typename RunScalar>
class HessianOperator {
public:
    using Scalar = double;  // Spectra's element type

    HessianOperator(gradlab::ProbeContext<RunScalar>& context, gradlab::Phase phase)
        : context_(&context), phase_(phase) {
        for (std::size_t i = 0; i < context.parameterCount(); ++i) {
            offsets_.push_back(size_);
            size_ += context.parameterValue(i).size();
        }
        theta_.resize(size_);
        for (std::size_t i = 0; i < context.parameterCount(); ++i) {
            const auto& value = context.parameterValue(i);
            theta_.segment(offsets_[i], value.size()) =
                Eigen::Map<const gradlab::Matrix<RunScalar>>(value.data(), value.size(), 1).template cast<double>();
        }
        step_ = std::cbrt(static_cast<double>(std::numeric_limits<RunScalar>::epsilon())) * (1.0 + theta_.norm());
        plus_.resize(size_);
        minus_.resize(size_);
    }

    Index rows() const { return size_; }
    Index cols() const { return size_; }
    /// h, the length of the displacement theta +- h u.
    double step() const { return step_; }
    /// Hessian-vector products taken so far.
    std::int64_t products() const { return products_; }
    void setShift(double shift) { shift_ = shift; }

    /// out = (H - shift I) in, for Spectra.
    void perform_op(const double* in, double* out) const {
        const Eigen::Map<const Vector> v(in, size_);
        Eigen::Map<Vector> result(out, size_);
        product(v, result);
        result -= shift_ * v;
    }

    /// result = H v (central differences).
    template <typename Out>
    void product(const Eigen::Ref<const Vector>& v, Out&& result) const {
        ++products_;
        const double norm = v.norm();
        if (!(norm > 0)) {
            result.setZero();
            return;
        }
        gradlab::ScopedPerturbation<RunScalar> perturbation(*context_);
        gradientAt(v, step_ / norm, plus_);
        gradientAt(v, -step_ / norm, minus_);
        result = (plus_ - minus_) * (norm / (2 * step_));
    }

    /// The loss at theta and its gradient (unperturbed).
    double lossAt(Vector& gradient) const {
        const double loss = context_->lossGradient(context_->batch(), context_->batchTargets(), phase_);
        gather(gradient);
        return loss;
    }

private:
    /// gradient = g(theta + scale v); requires a live ScopedPerturbation.
    void gradientAt(const Eigen::Ref<const Vector>& v, double scale, Vector& gradient) const {
        for (std::size_t i = 0; i < offsets_.size(); ++i) {
            auto& value = context_->perturbableValue(i);
            Eigen::Map<gradlab::Matrix<RunScalar>>(value.data(), value.size(), 1) =
                (theta_.segment(offsets_[i], value.size()) + scale * v.segment(offsets_[i], value.size()))
                    .template cast<RunScalar>();
        }
        context_->lossGradient(context_->batch(), context_->batchTargets(), phase_);
        gather(gradient);
    }
    void gather(Vector& gradient) const {
        gradient.resize(size_);
        for (std::size_t i = 0; i < offsets_.size(); ++i) {
            const auto& g = context_->scratchGradient(i);
            gradient.segment(offsets_[i], g.size()) =
                Eigen::Map<const gradlab::Matrix<RunScalar>>(g.data(), g.size(), 1).template cast<double>();
        }
    }

    gradlab::ProbeContext<RunScalar>* context_;
    gradlab::Phase phase_;
    std::vector<Index> offsets_;
    Index size_ = 0;
    Vector theta_;
    double step_ = 0;
    double shift_ = 0;
    mutable Vector plus_, minus_;
    mutable std::int64_t products_ = 0;
};

/// The `count` extreme eigenvalues of `op` (`rule`: LargestAlge or SmallestAlge) sorted by `order`, NaN where
/// Lanczos did not converge within `restarts` restarts; `converged` is cleared then.
template <typename Operator>
Vector extremeEigenvalues(Operator& op, Index count, Spectra::SortRule rule, Spectra::SortRule order,
                          Index restarts, double tolerance, bool& converged) {
    const Index size = op.rows();
    const Index ncv = std::min(size, std::max<Index>(2 * count + 1, 20));
    Spectra::SymEigsSolver<Operator> solver(op, count, ncv);
    solver.init();
    solver.compute(rule, restarts, tolerance, order);
    Vector values = Vector::Constant(count, std::numeric_limits<double>::quiet_NaN());
    if (solver.info() != Spectra::CompInfo::Successful) converged = false;
    const Vector found = solver.eigenvalues();
    for (Index k = 0; k < std::min(count, found.size()); ++k) values(k) = found(k);
    return values;
}

/// A seed for probe step `step` of a probe seeded `seed` (SplitMix64 of both): the Rademacher vectors of a
/// step do not depend on which steps were probed before, so a resumed run draws the same ones.
std::uint64_t stepSeed(std::uint64_t seed, std::int64_t step) {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (static_cast<std::uint64_t>(step) + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/// The probe itself, in the run's precision.
template <typename Scalar>
class Hessian : public gradlab::Probe<Scalar> {
public:
    explicit Hessian(const gradlab::Options& options)
        : top_(options.integer("top")),
          bottom_(options.integer("bottom")),
          traceSamples_(options.integer("trace_samples")),
          restarts_(options.integer("max_restarts")),
          tolerance_(options.real("tolerance") > 0 ? options.real("tolerance") : automaticTolerance<Scalar>),
          seed_(static_cast<std::uint64_t>(options.integer("seed"))),
          phase_(options.string("phase") == "eval" ? gradlab::Phase::eval : gradlab::Phase::train) {
        if (top_ == 0 && bottom_ == 0 && traceSamples_ == 0)
            throw gradlab::Error("hessian: top, bottom and trace_samples are all 0: nothing to measure");
    }

    void observe(gradlab::ProbeContext<Scalar>& context) override {
        const auto start = std::chrono::steady_clock::now();
        HessianOperator<Scalar> op(context, phase_);
        const Index size = op.rows();
        if (std::max(top_, bottom_) >= size)
            throw gradlab::Error("hessian: top " + std::to_string(top_) + " / bottom " + std::to_string(bottom_) +
                                 " eigenvalues need more than that many parameters (the model has " +
                                 std::to_string(size) + ")");
        const double nan = std::numeric_limits<double>::quiet_NaN();
        Vector top = Vector::Constant(top_, nan), bottom = Vector::Constant(bottom_, nan);
        double trace = nan, traceError = nan;
        bool converged = true;
        Vector gradient;
        const double loss = op.lossAt(gradient);
        if (std::isfinite(loss) && gradient.allFinite()) {
            // The largest eigenvalue sets the shift for the most negative ones (see the file comment).
            const Index largest = std::max<Index>(top_, bottom_ > 0 ? 1 : 0);
            if (largest > 0) {
                const Vector values = extremeEigenvalues(op, largest, Spectra::SortRule::LargestAlge,
                                                         Spectra::SortRule::LargestAlge, restarts_, tolerance_, converged);
                top = values.head(top_);
                if (bottom_ > 0) {
                    const double shift = std::isfinite(values(0)) ? std::max(values(0), 0.0) : 0.0;
                    op.setShift(shift);
                    bottom = extremeEigenvalues(op, bottom_, Spectra::SortRule::SmallestAlge,
                                                Spectra::SortRule::SmallestAlge, restarts_, tolerance_, converged)
                                 .array() +
                             shift;
                    op.setShift(0);
                }
            }
            if (traceSamples_ > 0) estimateTrace(context, op, trace, traceError);
        } else {
            converged = false;
        }
        const double rate = context.learningRate();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double products = static_cast<double>(op.products()), step = op.step();
        const double convergedValue = converged ? 1.0 : 0.0, twoOverRate = rate > 0 ? 2.0 / rate : nan;
        if (top_ > 0) context.write("eigenvalues", {top_}, top.data());
        if (bottom_ > 0) context.write("bottom_eigenvalues", {bottom_}, bottom.data());
        if (traceSamples_ > 0) {
            context.write("trace", {}, &trace);
            context.write("trace_stderr", {}, &traceError);
        }
        context.write("loss", {}, &loss);
        context.write("learning_rate", {}, &rate);
        context.write("two_over_lr", {}, &twoOverRate);
        context.write("converged", {}, &convergedValue);
        context.write("hvp_products", {}, &products);
        context.write("fd_step", {}, &step);
        context.write("seconds", {}, &seconds);
    }

private:
    /// Hutchinson: the mean of z^T H z over trace_samples Rademacher vectors z, and its standard error.
    void estimateTrace(gradlab::ProbeContext<Scalar>& context, const HessianOperator<Scalar>& op, double& trace,
                       double& traceError) {
        gradlab::Random random(stepSeed(seed_, context.step()));
        Vector z(op.rows()), hz(op.rows());
        std::vector<double> samples;
        for (Index j = 0; j < traceSamples_; ++j) {
            for (Index p = 0; p < z.size(); ++p) z(p) = random.uniform() < 0.5 ? -1.0 : 1.0;
            op.product(z, hz);
            samples.push_back(z.dot(hz));
        }
        double mean = 0;
        for (double sample : samples) mean += sample;
        mean /= static_cast<double>(samples.size());
        trace = mean;
        if (samples.size() > 1) {
            double squares = 0;
            for (double sample : samples) squares += (sample - mean) * (sample - mean);
            traceError = std::sqrt(squares / static_cast<double>(samples.size() - 1) / static_cast<double>(samples.size()));
        }
    }

    Index top_, bottom_, traceSamples_, restarts_;
    double tolerance_;
    std::uint64_t seed_;
    gradlab::Phase phase_;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_probes_hessian", "1.0.0", registry) {
    registry
        .addProbe<Hessian>("hessian",
                           "extreme eigenvalues (Lanczos) and trace (Hutchinson) of the Hessian of the training loss "
                           "on the probe batch, with lr and 2/lr beside them (Cohen et al. 2021, edge of stability)")
        .option(gradlab::OptionSpec::integer("top", 1, "the largest this many eigenvalues (0: none)").min(0))
        .option(gradlab::OptionSpec::integer("bottom", 0, "the most negative (smallest) this many eigenvalues (0: none)")
                    .min(0))
        .option(gradlab::OptionSpec::integer("trace_samples", 10,
                                             "m, Rademacher vectors of Hutchinson's trace estimate (0: no trace)")
                    .min(0))
        .option(gradlab::OptionSpec::real("tolerance", 0,
                                          "Lanczos's relative tolerance; 0: 1e-8 in float64 runs, 1e-3 in float32 runs")
                    .min(0)
                    .below(1))
        .option(gradlab::OptionSpec::integer("max_restarts", 100,
                                             "Lanczos restarts before giving up (the step's converged is then 0)")
                    .min(1))
        .option(gradlab::OptionSpec::integer("seed", 0, "seed of the probe's own stream of Rademacher vectors").min(0))
        .option(gradlab::OptionSpec::choice("phase", "train", {"train", "eval"},
                                            "the forward phase the loss is differentiated in (batch norm: batch or "
                                            "running statistics)"));
}
