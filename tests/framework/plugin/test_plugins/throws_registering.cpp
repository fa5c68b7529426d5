// A plugin library whose registration throws after registering one plugin: nothing of it may stay registered.
#include "gradlab/sdk.hpp"

namespace {
template <typename Scalar>
struct Half {
    template <class X>
    auto value(const X& x) const { return x * typename X::Scalar(0.5); }
    template <class X, class Y>
    auto derivative(const X& x, const Y&) const { return X::Constant(x.rows(), x.cols(), typename X::Scalar(0.5)); }
};
template <typename Scalar>
using HalfActivation = gradlab::ElementwiseActivation<Scalar, Half<Scalar>>;
}  // namespace

GRADLAB_PLUGIN("throws_registering", "1.0.0", registry) {
    registry.addActivation<HalfActivation>("half_before_throw", "x / 2");
    throw gradlab::Error("registration failed on purpose");
}
