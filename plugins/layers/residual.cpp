/// @file residual.cpp
/// "residual": a block holding a list of layers F, with output y = F(x) + x (He et al. 2016, "Deep Residual
/// Learning"), or y = F(x) + P x with a learned projection P [out x in] when the widths differ (their
/// "option B"). The identity path carries the gradient past F unchanged: dL/dx = dL/dy + dF^T dL/dy, which
/// is why deep residual stacks do not vanish. Blocks nest, and `{repeat: 50, layers: [{kind: residual, ...}]}`
/// makes fifty of them.
///
/// Its layers are children named `layers.<i>.<kind>`, so a parameter reads
/// `layers.3.residual.layers.0.dense.W`; the projection is `layers.3.residual.projection`.

#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;
using gradlab::Shape;

template <typename Scalar>
class Residual : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `layers` and `projection`; the layers are made in build(), when their input shape is known.
    explicit Residual(const gradlab::Options& options)
        : options_(options), specs_(options.pluginList("layers")), projectionMode_(options.string("projection")) {
        if (specs_.empty()) throw gradlab::Error("a residual block needs at least one layer in 'layers'");
    }

    Shape build(const Shape& input) override {
        Shape shape = input;
        for (std::size_t i = 0; i < specs_.size(); ++i) {
            body_.push_back(gradlab::buildLayer<Scalar>(options_, specs_[i], shape));
            childNames_.push_back("layers." + std::to_string(i) + "." + specs_[i].name);
            this->addChild(childNames_.back(), *body_[i]);
        }
        if (shape.timesteps != input.timesteps)
            throw gradlab::Error("the block's layers change the number of timesteps from " +
                                 std::to_string(input.timesteps) + " to " + std::to_string(shape.timesteps) +
                                 "; a residual connection needs them equal");
        const bool widthsDiffer = shape.features != input.features;
        if (widthsDiffer && projectionMode_ == "never")
            throw gradlab::Error("the block maps " + std::to_string(input.features) + " features to " +
                                 std::to_string(shape.features) +
                                 " and projection is 'never'; use projection: auto, or make the widths equal");
        if (widthsDiffer || projectionMode_ == "always")
            projection_ = &this->addParameter(
                "projection", shape.features, input.features,
                gradlab::ParameterInit::weight(input.features, shape.features));
        outputs_.resize(body_.size());
        signals_.resize(body_.size());
        return shape;
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        // A block reports no statistics of its own layers (statistics() keeps the default), so they need not
        // compute any: the tracing flag the host set on them is cleared (their saturation passes cost ~1% of a
        // traced step of 16 dense-batchnorm-relu blocks).
        if (this->tracing())
            for (auto& layer : body_) layer->setTracing(false);
        const MatrixType* input = &x;
        for (std::size_t i = 0; i < body_.size(); ++i) {
            body_[i]->forward(*input, outputs_[i], phase);
            input = &outputs_[i];
        }
        y.resize(outputs_.back().rows(), outputs_.back().cols());
        if (projection_) {
            y.noalias() = projection_->value * x;
            y += outputs_.back();
        } else {
            y = outputs_.back() + x;
        }
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        // The body's last layer receives dy itself; signals_[i] is dL/d(output of body layer i).
        const std::size_t last = body_.size() - 1;
        for (std::size_t i = last + 1; i-- > 0;) {
            const MatrixType& input = i == 0 ? x : outputs_[i - 1];
            const MatrixType& outputGradient = i == last ? dy : signals_[i];
            MatrixType* inputGradient = i == 0 ? (dx ? &bodyInputGradient_ : nullptr) : &signals_[i - 1];
            body_[i]->backward(input, outputs_[i], outputGradient, inputGradient);
        }
        if (projection_) projection_->grad.noalias() += dy * x.transpose();
        if (!dx) return;
        dx->resize(x.rows(), x.cols());
        if (projection_) {
            dx->noalias() = projection_->value.transpose() * dy;
            *dx += bodyInputGradient_;
        } else {
            *dx = bodyInputGradient_ + dy;
        }
    }

private:
    gradlab::Options options_;  ///< kept for its plugin factory, which builds the layers
    std::vector<gradlab::PluginSpec> specs_;
    std::string projectionMode_;
    std::vector<std::shared_ptr<gradlab::Layer<Scalar>>> body_;
    std::vector<std::string> childNames_;
    gradlab::Parameter<Scalar>* projection_ = nullptr;
    std::vector<MatrixType> outputs_, signals_;  ///< body outputs; dL/d(body output i) for i < last
    MatrixType bodyInputGradient_;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_residual", "1.0.0", registry) {
    registry.addLayer<Residual>("residual", "y = F(x) + x, F a list of layers; a learned projection when widths differ "
                                            "(He et al. 2016)")
        .option(gradlab::OptionSpec::layers("layers", "the block's layers F, applied in order"))
        .option(gradlab::OptionSpec::choice("projection", "auto", {"auto", "always", "never"},
                                            "auto: project x only when F changes the width"));
}
