#pragma once
/// @file layer.hpp
/// The layer plugin interface.

#include <cstddef>
#include <vector>

#include "gradlab/activation.hpp"
#include "gradlab/error.hpp"
#include "gradlab/module.hpp"

namespace gradlab {

/// A differentiable map from one batch to another, with named parameters.
///
/// Argument order is fixed across every kind: forward(x, y), backward(x, y, dy, dx).
/// backward *overwrites* the input gradient it returns and *adds into* (+=) parameter gradients, which the
/// trainer zeroes each step; this is what lets shared weights accumulate over timesteps.
/// A layer may keep state between forward and backward (e.g. dense's pre-activation); a forward is followed
/// by at most one backward with the same x and y.
template <typename Scalar>
class Layer : public Module<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;

    /// requires: called once, before forward, with the input shape.
    /// ensures: parameters declared (the host then initialises them); returns the output shape.
    virtual Shape build(const Shape& input) = 0;

    /// requires: x is [input.features x columns]. ensures: y overwritten, [output.features x columns].
    virtual void forward(const MatrixType& x, MatrixType& y, Phase phase) = 0;

    /// requires: x, y from the last forward (train, or eval for a gradient of the evaluation-mode map);
    /// dy = dLoss/dy, same shape as y.
    /// ensures: if dx is not null, *dx overwritten with dLoss/dx, same shape as x (null: the input
    /// gradient is not needed, e.g. for the first layer); parameter gradients accumulated (+=).
    virtual void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) = 0;

    /// For probes (gradlab/probe.hpp): a layer with a state carried from timestep to timestep (rnn, lstm, gru:
    /// h_t) returns true and, in every backward until called again, keeps dLoss/dh_t for each t of `timesteps`
    /// (the gradient at the state, through the recurrence, before it reaches the input); an empty list stops
    /// keeping (what was kept stays readable). Other layers return false and keep nothing.
    /// requires: 0 <= t < the input's timesteps for every t.
    virtual bool keepStateGradients(const std::vector<Index>& timesteps) {
        (void)timesteps;
        return false;
    }

    /// dLoss/dh_t for t = timesteps[k] of keepStateGradients() in the last backward, [state size x B].
    /// requires: keepStateGradients() returned true, k < its timesteps' count, a backward since.
    virtual const MatrixType& keptStateGradient(std::size_t k) const {
        (void)k;
        throw Error("this layer has no state across timesteps (keptStateGradient)");
    }
};

}  // namespace gradlab
