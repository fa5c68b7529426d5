/// @file weight_clip.cpp
/// Weight clipping (Arjovsky, Chintala & Bottou 2017, WGAN): a projection after each update, not a penalty.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// No penalty and no gradient; project() clamps every entry to [-clip, clip], which bounds the Lipschitz
/// constant of the layer as WGAN's critic needs.
template <typename Scalar>
class WeightClip : public gradlab::ProjectionRegularizer<Scalar> {
public:
    /// Reads `clip`.
    explicit WeightClip(const gradlab::Options& options) : clip_(options.real("clip")) {
        if (!(clip_ > 0.0)) throw gradlab::Error("option 'clip' must be > 0, got " + std::to_string(clip_));
    }

    void project(gradlab::Matrix<Scalar>& value) const override {
        const Scalar limit = static_cast<Scalar>(clip_);
        value = value.cwiseMax(-limit).cwiseMin(limit);
    }

private:
    double clip_ = 0.01;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_regularizers_weight_clip", "1.0.0", registry) {
    registry
        .addRegularizer<WeightClip>("weight_clip", "after each update, clamp every entry of W to [-clip, clip]; "
                                                   "no penalty (Arjovsky et al. 2017, WGAN)")
        .option(gradlab::OptionSpec::real("clip", 0.01, "bound on |w|").above(0.0));
}
