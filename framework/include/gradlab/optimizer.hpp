#pragma once
/// @file optimizer.hpp
/// The optimizer plugin interface.

#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/state.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// A trained parameter as the optimizer sees it: qualified name and shape.
struct ParameterSlot {
    std::string name;
    Index rows = 0;
    Index cols = 0;
};

/// Turns gradients into updates. State (momentum, moments) is kept per parameter slot, created in attach().
template <typename Scalar>
class Optimizer {
public:
    virtual ~Optimizer() = default;

    /// The configured base learning rate, which the host's schedule scales.
    virtual double learningRate() const = 0;

    /// requires: called once, before update, with every trained parameter; slot i of update() is
    /// parameters[i]. ensures: per-parameter state allocated (no allocation in update()).
    virtual void attach(const std::vector<ParameterSlot>& parameters) = 0;

    /// requires: grad is the full gradient of the objective (loss + penalties) for slot `slot`; step counts
    /// from 1. ensures: delta overwritten with the change the host adds to value; slot state advanced.
    virtual void update(std::size_t slot, const Matrix<Scalar>& value, const Matrix<Scalar>& grad,
                        double learningRate, std::int64_t step, Matrix<Scalar>& delta) = 0;

    /// Shows every value update() carries from one step to the next (momentum, moments, accumulators, random
    /// streams), each under a name unique within this optimizer, e.g. "<slot name>.velocity"; a stateless
    /// optimizer writes an empty body. The host saves this state in checkpoints and restores it through the same
    /// call, so a resumed run continues bit for bit. requires: attach() was called.
    virtual void visitState(StateVisitor<Scalar>& state) = 0;
};

}  // namespace gradlab
