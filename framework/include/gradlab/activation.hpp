#pragma once
/// @file activation.hpp
/// The activation plugin interface: an element-wise function y = f(x), possibly with learnable parameters.

#include <vector>

#include "gradlab/module.hpp"

namespace gradlab {

/// An element-wise nonlinearity. Used as a layer of its own (`- relu`), inside other layers (dense's
/// `activation:`, an RNN's nonlinearity), and by the mean-field theory through value() and slope().
template <typename Scalar>
class Activation : public Module<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;

    /// requires: called once, before forward, with the number of rows it will see.
    /// ensures: learnable parameters (if any) declared.
    virtual void build(Index units) { (void)units; }

    /// requires: x is [units x n]. ensures: y overwritten with f(x), [units x n].
    virtual void forward(const MatrixType& x, MatrixType& y) = 0;

    /// requires: x, y from forward; dy is dLoss/dy, same shape. ensures: dx overwritten with dy * f'(x);
    /// parameter gradients accumulated (+=).
    virtual void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType& dx) = 0;

    /// requires: x, y from forward. ensures: d overwritten with f'(x), element-wise (saturation statistics).
    virtual void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) = 0;

    /// f(x) for one value at the current parameters (the first unit's, for per-unit parameters).
    virtual double value(double x) const = 0;

    /// f'(x) for one value at the current parameters.
    virtual double slope(double x) const = 0;

    /// Saturation statistics: for each unit (row), the largest |f'(x)| over the batch (columns); a dead ReLU
    /// or a saturated sigmoid unit has a value near 0. Layers call it while tracing and report the result as
    /// the statistic "unit_max_slope", which the host turns into /trace/saturation.
    /// requires: x, y from forward. ensures: out has one entry per row; scratch holds f'(x).
    void unitMaxSlope(const MatrixType& x, const MatrixType& y, MatrixType& scratch, std::vector<double>& out) {
        derivative(x, y, scratch);
        out.resize(static_cast<std::size_t>(scratch.rows()));
        for (Index row = 0; row < scratch.rows(); ++row)
            out[static_cast<std::size_t>(row)] =
                scratch.cols() > 0 ? static_cast<double>(scratch.row(row).cwiseAbs().maxCoeff()) : 0.0;
    }
};

}  // namespace gradlab
