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

    /// requires: x, y from forward; dy is dLoss/dy, same shape. ensures: if dx is not null, *dx overwritten with
    /// dy * f'(x), same shape as x (null: only the parameter gradients are needed); parameter gradients
    /// accumulated (+=). The same dx convention as Layer::backward.
    virtual void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) = 0;

    /// requires: x, y from forward. ensures: d overwritten with f'(x), element-wise (saturation statistics).
    virtual void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) = 0;

    /// f(x) for one value at the current parameters (the first unit's, for per-unit parameters).
    virtual double value(double x) const = 0;

    /// f'(x) for one value at the current parameters.
    virtual double slope(double x) const = 0;

    /// Saturation statistics: for each unit (row), the largest |f'(x)| over the batch (columns); a dead ReLU
    /// or a saturated sigmoid unit has a value near 0. Layers call it while tracing and report the result as
    /// the statistic "unit_max_slope", which the host turns into /trace/saturation.
    /// requires: x, y from forward. ensures: out has one entry per row. scratch is room for f'(x) (this default
    /// fills it; ElementwiseActivation computes the maxima in one pass over x and y without it).
    virtual void unitMaxSlope(const MatrixType& x, const MatrixType& y, MatrixType& scratch,
                              std::vector<double>& out) {
        derivative(x, y, scratch);
        out.assign(static_cast<std::size_t>(scratch.rows()), 0.0);
        if (scratch.cols() == 0) return;
        // Column by column (the storage order) over blocks of rows held in registers: one vectorised pass.
        Index row = maxAbsOverRows<64>(scratch, 0, out);
        row = maxAbsOverRows<16>(scratch, row, out);
        maxAbsOverRows<1>(scratch, row, out);
    }

private:
    /// For rows [row, row + k Block) of m (as many whole blocks as fit), out[r] = max over columns of |m(r, c)|;
    /// returns the first row not done.
    template <int Block>
    static Index maxAbsOverRows(const MatrixType& m, Index row, std::vector<double>& out) {
        for (; row + Block <= m.rows(); row += Block) {
            Eigen::Array<Scalar, Block, 1> largest = m.col(0).template segment<Block>(row).array().abs();
            for (Index col = 1; col < m.cols(); ++col)
                largest = largest.max(m.col(col).template segment<Block>(row).array().abs());
            for (Index k = 0; k < Block; ++k) out[static_cast<std::size_t>(row + k)] = static_cast<double>(largest(k));
        }
        return row;
    }
};

}  // namespace gradlab
