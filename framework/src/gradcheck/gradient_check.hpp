#pragma once
/// @file gradient_check.hpp
/// Float64 central finite-difference checks of a plugin's analytic gradients (in the spirit of Caffe's
/// GradientChecker and mlpack's CheckGradient). The one implementation behind `gradlab gradcheck` and the
/// gradient section of the plugin conformance tests.
///
/// The loss is a random scalar function of the plugin's output, L = sum(R .* y) with R fixed, so that dL/dy = R
/// and backward(x, y, R) must return dL/dx and accumulate dL/dw into every parameter. Each entry v of the input
/// and of every parameter is perturbed in turn: n = (L(v + h) - L(v - h)) / 2h with h = 1e-6 max(1, |v|). The
/// error of an entry is |a - n| / max(|a| + |n|, 1e-3): relative for gradients of ordinary size, and an
/// absolute 1e-9 for near-zero entries where finite differences only have round-off (~1e-10) left.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gradlab/activation.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/module.hpp"
#include "gradlab/random.hpp"
#include "gradlab/regularizer.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab::gradcheck {

/// How a check is run and judged.
struct Settings {
    double tolerance = 1e-6;     ///< largest error that passes
    double errorFloor = 1e-3;    ///< the denominator's floor in |a - n| / max(|a| + |n|, floor)
    double relativeStep = 1e-6;  ///< h = relativeStep max(1, |v|)
};

/// The check of one tensor: the input "x" or a parameter by its qualified name ("W", "activation.slope").
struct TensorResult {
    std::string name;         ///< "x", or the parameter's qualified name
    Matrix<double> analytic;  ///< what backward returned (dx) or accumulated (parameter gradient)
    Matrix<double> numeric;   ///< central differences, same shape as the tensor
    double maxRelativeError = 0.0;  ///< over every entry; infinity when analytic is not finite or misshapen
    Index worstEntry = 0;           ///< column-major index of the entry with the largest error
    bool passed = false;            ///< maxRelativeError <= tolerance, and the shapes agree
    std::string problem;            ///< why it failed beyond the numbers (e.g. "dx is [3 x 2], expected [4 x 3]")
};

/// The checks of every tensor of one plugin, input first, then parameters in collectParameters order.
struct Report {
    std::vector<TensorResult> tensors;  ///< the input's check first, then one per parameter
    Settings settings;                  ///< what the tensors were judged by
    Shape input;                 ///< features and timesteps of x
    Index batch = 0;             ///< samples per timestep
    Index outputRows = 0;        ///< rows of y (or 1 for a regularizer's scalar penalty)
    Index outputColumns = 0;     ///< columns of y (or 1)

    /// Whether every tensor passed.
    bool passed() const;
};

/// A differentiable map seen through one interface, whatever the plugin kind: y = f(x; parameters).
struct Subject {
    /// y overwritten with f(x) at the current parameter values.
    std::function<void(const Matrix<double>& x, Matrix<double>& y)> forward;
    /// dx overwritten with dL/dx for dL/dy = dy; parameter gradients accumulated (+=), as the SDK requires.
    std::function<void(const Matrix<double>& x, const Matrix<double>& y, const Matrix<double>& dy, Matrix<double>& dx)>
        backward;
    /// Every parameter, by qualified name; their values are perturbed in place and restored.
    std::vector<NamedParameter<double>> parameters;
};

/// Checks dL/dx and every parameter gradient of `subject` at input `x` for L = sum(lossWeights .* y).
/// requires: lossWeights has the shape of y = f(x). ensures: parameter values are as they were; parameter
/// gradients hold one backward's contribution (zeroed first). Throws Error when y's shape differs from
/// lossWeights'.
Report check(const Subject& subject, const Matrix<double>& x, const Matrix<double>& lossWeights,
             const Settings& settings = {});

/// Checks a built layer on a random problem drawn from `seed`: every parameter uniform in [-1, 1), x
/// [input.features x batch * input.timesteps] with |x| uniform in [0.05, 2] and a random sign (away from the
/// kinks of relu-like functions), R uniform in [-1, 1). Every forward is in `phase`.
/// requires: layer.build(input) ran. ensures: parameter values are the random ones.
Report checkLayer(Layer<double>& layer, const Shape& input, Index batch, std::uint64_t seed,
                  const Settings& settings = {}, Phase phase = Phase::train);

/// Checks a built activation the same way; x is [units x batch * input.timesteps], units = input.features.
/// requires: activation.build(input.features) ran.
Report checkActivation(Activation<double>& activation, const Shape& input, Index batch, std::uint64_t seed,
                       const Settings& settings = {});

/// Checks a regularizer's addGradient against central differences of its penalty, L = R(w), for a random value
/// w [rows x cols] drawn like a layer's input (|w| in [0.05, 2], away from l1's kink). The tensor is named "w".
Report checkRegularizer(const Regularizer<double>& regularizer, Index rows, Index cols, std::uint64_t seed,
                        const Settings& settings = {});

/// dL/dv by central differences of `loss`, perturbing each entry of `value` in place (then restoring it):
/// step relativeStep max(1, |v|).
Matrix<double> centralDifferences(const std::function<double()>& loss, Matrix<double>& value,
                                  double relativeStep = 1e-6);

/// The largest |a - n| / max(|a| + |n|, floor) over the entries of two same-shaped matrices; infinity when an
/// entry of either is not finite or the shapes differ; 0 for empty matrices. `worstEntry` (if given) receives
/// the column-major index of that entry.
double maxRelativeError(const Matrix<double>& analytic, const Matrix<double>& numeric, double floor = 1e-3,
                        Index* worstEntry = nullptr);

/// A [rows x cols] matrix with entries uniform in [-1, 1).
Matrix<double> uniformEntries(Index rows, Index cols, Random& random);

/// A [rows x cols] matrix with |entries| uniform in [0.05, 2] and random signs: away from kinks at 0.
Matrix<double> entriesAwayFromZero(Index rows, Index cols, Random& random);

}  // namespace gradlab::gradcheck
