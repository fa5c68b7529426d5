#pragma once
/// @file elementwise.hpp
/// Write an activation as one small function object; this template turns it into an Activation plugin.
///
/// The function object provides two member templates over Eigen array expressions:
///   template <class X> auto value(const X& x) const;                    // f(x)
///   template <class X, class Y> auto derivative(const X& x, const Y& y) const;  // f'(x), y = f(x)
/// Written over arrays, the same definition is vectorised for whole batches and evaluated for single values.
/// A function object with options takes `const Options&` in its constructor.

#include <type_traits>
#include <utility>
#include <vector>

#include "gradlab/options.hpp"

#include "gradlab/activation.hpp"

namespace gradlab {

template <typename Scalar, typename Function>
class ElementwiseActivation : public Activation<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;

    /// Default-constructs the function object (for functions without options).
    ElementwiseActivation() = default;

    /// Builds the function object from the plugin's options when it takes them, else default-constructs it.
    explicit ElementwiseActivation(const Options& options) : function_(makeFunction(options)) {}

    void forward(const MatrixType& x, MatrixType& y) override {
        y.resize(x.rows(), x.cols());
        y.array() = function_.value(x.array());
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        if (dx == nullptr) return;  // no parameters: nothing else to compute
        dx->resize(x.rows(), x.cols());
        dx->array() = dy.array() * function_.derivative(x.array(), y.array());
    }

    void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) override {
        d.resize(x.rows(), x.cols());
        d.array() = function_.derivative(x.array(), y.array());
    }

    /// The largest |f'| of each unit over the batch, f' evaluated column by column into the running maxima:
    /// one pass over x and y, no [units x batch] scratch written and read back.
    void unitMaxSlope(const MatrixType& x, const MatrixType& y, MatrixType& scratch,
                      std::vector<double>& out) override {
        (void)scratch;
        out.assign(static_cast<std::size_t>(x.rows()), 0.0);
        if (x.cols() == 0) return;
        largestSlope_ = function_.derivative(x.col(0).array(), y.col(0).array()).abs();
        for (Index col = 1; col < x.cols(); ++col)
            largestSlope_ = largestSlope_.max(function_.derivative(x.col(col).array(), y.col(col).array()).abs());
        for (Index row = 0; row < x.rows(); ++row) out[static_cast<std::size_t>(row)] = static_cast<double>(largestSlope_(row));
    }

    double value(double x) const override {
        Eigen::Array<double, 1, 1> in;
        in(0) = x;
        Eigen::Array<double, 1, 1> out = function_.value(in);
        return out(0);
    }

    double slope(double x) const override {
        Eigen::Array<double, 1, 1> in;
        in(0) = x;
        Eigen::Array<double, 1, 1> y = function_.value(in);
        Eigen::Array<double, 1, 1> out = function_.derivative(in, y);
        return out(0);
    }

protected:
    static Function makeFunction(const Options& options) {
        if constexpr (std::is_constructible_v<Function, const Options&>)
            return Function(options);
        else {
            (void)options;
            return Function();
        }
    }

    Function function_;
    Eigen::Array<Scalar, Eigen::Dynamic, 1> largestSlope_;  ///< unitMaxSlope()'s running maxima, [units]
};

}  // namespace gradlab
