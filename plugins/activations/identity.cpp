/// @file identity.cpp
/// The identity activation, f(x) = x: the default of every `activation:` option (dense detects it and skips
/// the activation entirely).

#include "gradlab/sdk.hpp"

namespace {

/// f(x) = x, f'(x) = 1.
struct IdentityFunction {
    template <class X>
    auto value(const X& x) const {
        return x;
    }
    template <class X, class Y>
    auto derivative(const X& x, const Y& y) const {
        using S = typename X::Scalar;
        return X::Constant(x.rows(), x.cols(), S(1));
    }
};

/// The identity activation plugin, f(x) = x.
template <typename Scalar>
using Identity = gradlab::ElementwiseActivation<Scalar, IdentityFunction>;

}  // namespace

GRADLAB_PLUGIN("gradlab_activations_identity", "1.0.0", registry) {
    registry.addActivation<Identity>("identity", "f(x) = x (no nonlinearity; the default of `activation:` options)");
}
