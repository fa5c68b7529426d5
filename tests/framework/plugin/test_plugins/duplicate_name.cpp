// A plugin library that registers a name the built-in activations already have.
#include "gradlab/sdk.hpp"

namespace {
template <typename Scalar>
struct Same {
    template <class X>
    auto value(const X& x) const { return x; }
    template <class X, class Y>
    auto derivative(const X& x, const Y&) const { return X::Ones(x.rows(), x.cols()); }
};
template <typename Scalar>
using SameActivation = gradlab::ElementwiseActivation<Scalar, Same<Scalar>>;
}  // namespace

GRADLAB_PLUGIN("duplicate_name", "1.0.0", registry) {
    registry.addActivation<SameActivation>("relu", "an impostor relu");
}
