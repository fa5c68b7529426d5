#pragma once
/// @file elementwise.hpp
/// Write an activation as one small function object; this template turns it into an Activation plugin.
///
/// The function object provides two member templates over Eigen array expressions:
///   template <class X> auto value(const X& x) const;                    // f(x)
///   template <class X, class Y> auto derivative(const X& x, const Y& y) const;  // f'(x), y = f(x)
/// Written over arrays, the same definition is vectorised for whole batches and evaluated for single values.

#include <utility>

#include "gradlab/activation.hpp"

namespace gradlab {

template <typename Scalar, typename Function>
class ElementwiseActivation : public Activation<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;

    template <typename... Args>
    explicit ElementwiseActivation(Args&&... args) : function_(std::forward<Args>(args)...) {}

    void forward(const MatrixType& x, MatrixType& y) override {
        y.resize(x.rows(), x.cols());
        y.array() = function_.value(x.array());
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType& dx) override {
        dx.resize(x.rows(), x.cols());
        dx.array() = dy.array() * function_.derivative(x.array(), y.array());
    }

    void derivative(const MatrixType& x, const MatrixType& y, MatrixType& d) override {
        d.resize(x.rows(), x.cols());
        d.array() = function_.derivative(x.array(), y.array());
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
    Function function_;
};

}  // namespace gradlab
