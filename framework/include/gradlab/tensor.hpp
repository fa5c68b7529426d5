#pragma once
/// @file tensor.hpp
/// Tensor types shared by every plugin kind.
///
/// Layout: a batch is a column-major matrix [features x batch], one column per sample. A sequence batch
/// (recurrent models) is [features x (timesteps * batch)], timestep-major: the columns of timestep t are
/// [t * batch, (t + 1) * batch). A per-timestep layer (dense, activation) therefore treats a sequence as a
/// wider batch and needs no special case.

#include <Eigen/Core>
#include <cstdint>

namespace gradlab {

using Index = Eigen::Index;

/// A dense column-major matrix of the run's precision (float or double).
template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Shape of what flows between layers: features per sample, and timesteps (1 for non-sequence data).
struct Shape {
    Index features = 0;
    Index timesteps = 1;
    friend bool operator==(const Shape& a, const Shape& b) {
        return a.features == b.features && a.timesteps == b.timesteps;
    }
    friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
};

/// Whether a forward pass is for training (batch statistics, dropout on) or evaluation.
enum class Phase { train, eval };

}  // namespace gradlab
