#pragma once
/// @file state.hpp
/// What a plugin object carries from one step to the next, shown to the host for checkpoints.

#include <cstdint>
#include <string>

#include "gradlab/random.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// Walks a plugin object's step-to-step state by name. The host implements it twice: one visitor saves each
/// value to a checkpoint, the other overwrites each value from one. So a plugin writes one function that names
/// its state, and saving and restoring can never disagree:
///
///     void visitState(gradlab::StateVisitor<Scalar>& state) override {
///         for (std::size_t i = 0; i < slots_.size(); ++i) state.tensor(slots_[i].name + ".velocity", velocities_[i]);
///     }
///
/// Names must be unique within the object. When restoring, each call overwrites the value with the saved one and
/// throws Error if the name is missing from the checkpoint or a tensor's shape differs.
template <typename Scalar>
class StateVisitor {
public:
    virtual ~StateVisitor() = default;
    /// A tensor, e.g. momentum [rows x cols], saved in the run's precision.
    virtual void tensor(const std::string& name, Matrix<Scalar>& value) = 0;
    /// An integer, e.g. a counter.
    virtual void integer(const std::string& name, std::int64_t& value) = 0;
    /// A real number, e.g. a running scale, saved in float64.
    virtual void real(const std::string& name, double& value) = 0;
    /// A random stream's complete state, so that a resumed run draws the same numbers.
    virtual void random(const std::string& name, Random& value) = 0;
};

}  // namespace gradlab
