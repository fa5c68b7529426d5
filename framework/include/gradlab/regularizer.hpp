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

/// Base of a regularizer that is a projection only (max-norm, weight clipping): no penalty, no gradient; the
/// plugin writes project().
template <typename Scalar>
class ProjectionRegularizer : public Regularizer<Scalar> {
public:
    /// ensures: returns 0.
    double penalty(const Matrix<Scalar>& value) const final {
        (void)value;
        return 0.0;
    }
    /// ensures: grad unchanged.
    void addGradient(const Matrix<Scalar>& value, Matrix<Scalar>& grad) const final {
        (void)value;
        (void)grad;
    }
    /// requires: value is the parameter after an update. ensures: value projected onto the constraint set.
    void project(Matrix<Scalar>& value) const override = 0;
};

}  // namespace gradlab
