#pragma once
/// @file regularizer.hpp
/// The regularizer plugin interface.

#include "gradlab/tensor.hpp"

namespace gradlab {

/// A penalty on one parameter's value, added to the loss, and an optional projection after each update.
/// The host applies it to the parameters its `params:` pattern selects (weights by default).
template <typename Scalar>
class Regularizer {
public:
    virtual ~Regularizer() = default;

    /// The penalty R(w) this parameter adds to the objective.
    virtual double penalty(const Matrix<Scalar>& value) const = 0;

    /// requires: grad has value's shape. ensures: grad += dR/dw.
    virtual void addGradient(const Matrix<Scalar>& value, Matrix<Scalar>& grad) const = 0;

    /// Runs after each update (max-norm, weight clipping); the default leaves value alone.
    virtual void project(Matrix<Scalar>& value) const { (void)value; }
};

}  // namespace gradlab
