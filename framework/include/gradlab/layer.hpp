#pragma once
/// @file layer.hpp
/// The layer plugin interface.

#include <cstddef>
#include <vector>

#include "gradlab/activation.hpp"
#include "gradlab/error.hpp"
#include "gradlab/module.hpp"

namespace gradlab {

/// The per-sample gradients of one parameter [rows x cols] in factored form, for probes (gradient_noise): the
/// contribution of column c of the last backward's batch to the parameter's gradient is left.col(c)
/// right.col(c)^T, so that sample i's gradient is the sum of those of its columns (c = t B + i, one per
/// timestep) and the backward's gradient the sum over every column. A dense layer's W has left = dL/dz
/// [units x columns] and right = x [inputs x columns], its b left = dL/dz and right a row of ones.
template <typename Scalar>
struct SampleGradientFactor {
    const Matrix<Scalar>* left = nullptr;   ///< [rows x columns]
    const Matrix<Scalar>* right = nullptr;  ///< [cols x columns]; null: a [1 x columns] row of ones (a bias)
};

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

    /// For probes: whether a forward in `phase` couples the batch's samples, so that one sample's output
    /// depends on the others' inputs (batch norm in training, with batch statistics) and a sample has no
    /// gradient of its own. Layers that map each sample alone (dense, layernorm, batch norm in eval) return
    /// false, the default; a layer holding layers answers for them too.
    virtual bool couplesSamples(Phase phase) const {
        (void)phase;
        return false;
    }

    /// For probes (gradient_noise): the last backward's parameter gradients in per-sample factored form
    /// (SampleGradientFactor), which give per-sample gradient norms, sums of squares and inner products
    /// without materialising a gradient per sample.
    /// requires: x, dy of the last forward and backward (in which parameterGradientsWanted() was true).
    /// ensures: false, the default, when the layer has no such factors (then nothing is written); true with
    /// `factors` overwritten by one entry per parameter of collectParameters() (children's included, in its
    /// order), whose matrices stay valid until the next forward or backward of this layer or a change of x, dy.
    virtual bool sampleGradientFactors(const MatrixType& x, const MatrixType& dy,
                                       std::vector<SampleGradientFactor<Scalar>>& factors) const {
        (void)x;
        (void)dy;
        (void)factors;
        return false;
    }
};

}  // namespace gradlab
