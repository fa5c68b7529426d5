/// @file identity.cpp
/// The identity initializer of the IRNN (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent
/// Networks of Rectified Linear Units"): a ReLU RNN whose recurrent weights start as the identity carries its
/// state, and its gradient, unchanged through time while the inputs are zero.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// W = gain I for a square [n x n] W. A rectangular W is refused (the IRNN's W_h is always square; a
/// rectangular "identity" would silently drop or zero some units), naming its shape.
template <typename Scalar>
class Identity : public gradlab::Initializer<Scalar> {
public:
    /// Reads `gain`.
    explicit Identity(const gradlab::Options& options) : gain_(options.real("gain")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        if (value.rows() != value.cols())
            throw gradlab::Error("initializer identity needs a square matrix, got [" + std::to_string(value.rows()) +
                                 " x " + std::to_string(value.cols()) +
                                 "]; use it for recurrent weights W_h (IRNN), or orthogonal for rectangular ones");
        value.setIdentity();
        value *= static_cast<Scalar>(gain_);
    }

private:
    double gain_ = 1.0;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_identity", "1.0.0", registry) {
    registry.addInitializer<Identity>("identity", "gain I, for square matrices: the IRNN's recurrent weights "
                                                  "(Le, Jaitly & Hinton 2015)")
        .option(gradlab::OptionSpec::real("gain", 1.0, "the diagonal: W = gain I (Le et al. use 1)").min(0.0));
}
