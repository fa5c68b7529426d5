/// @file residual.cpp
/// "residual": a block holding a list of layers F, with output y = F(x) + x (He et al. 2016, "Deep Residual
/// Learning"), or y = F(x) + P x with a learned projection P [out x in] when the widths differ (their
/// "option B"). The identity path carries the gradient past F unchanged: dL/dx = dL/dy + dF^T dL/dy, which
/// is why deep residual stacks do not vanish. Blocks nest, and `{repeat: 50, layers: [{kind: residual, ...}]}`
/// makes fifty of them.
///
/// Options that shape the block, with S(x) = x (or P x) the skip path:
///  - `gate: scalar`: y = S(x) + alpha F(x), a learned scalar alpha [1 x 1] starting at `gate_init` (default 0:
///    the block starts as the identity). SkipInit (De & Smith 2020) and ReZero (Bachlechner et al. 2020, which
///    also drops normalisation) are this gate; dL/dalpha = <dL/dy, F(x)>.
///  - `norm: pre`: y = S(x) + F(N(x)); `norm: post`: y = N(S(x) + F(x)) (Xiong et al. 2020: post-norm blocks
///    have large gradients near the output at initialisation, pre-norm blocks do not). N is the `normaliser`
///    option, a layer spec (layernorm by default, or `{kind: batchnorm, momentum: 0.1}`) that keeps the shape.
///  - `fixup_blocks: L` (Zhang et al. 2019, "Fixup Initialization"), for a model of L such blocks and no
///    normalisation: the branch becomes F(x) = s F_n(... F_1(x + c_1) + c_2 ...) + c_out with a multiplier s
///    ("fixup_scale", [1 x 1], starts at 1) and scalar biases c_i before each layer of the branch
///    ("fixup_bias_<i>", i = 0..n-1) and after the multiplier ("fixup_bias_out"), all starting at 0. Of the m
///    branch layers that hold weights (parameters declared as weights, e.g. dense's W), the last one's weights
///    start at zero and the others' are drawn he_normal (fan_in) with gain sqrt(2) L^(-1/(2m-2)); biases,
///    normalisers' scales and the projection keep their initializers. The rule also zeroes the model's output
///    layer, which lies outside every block: give it `init: {W: zeros}` in the config.
///
/// Its layers are children named `layers.<i>.<kind>`, so a parameter reads
/// `layers.3.residual.layers.0.dense.W`; the projection is `layers.3.residual.projection`, the gate
/// `layers.3.residual.alpha`, the normaliser's parameters `layers.3.residual.normaliser.layernorm.gamma`.
/// alpha and the Fixup scalars are parameters like prelu's slope: the trace has their norm, gradient norm and
/// update norm per traced step (`/trace/param_norm`, ...), and /model/parameters their final value.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;
using gradlab::Shape;

/// Where the block normalises: nowhere, the branch's input (pre) or the block's output (post).
enum class NormPlacement { none, pre, post };

NormPlacement placementFromName(const std::string& name) {
    if (name == "pre") return NormPlacement::pre;
    if (name == "post") return NormPlacement::post;
    return NormPlacement::none;
}

/// The factor Fixup scales the non-last weight layers of each branch by: L^(-1/(2m-2)) for L blocks of m
/// weight layers (Zhang et al. 2019, eq. after their Theorem 3); 1 when m = 1 (the branch has no such layer).
inline double fixupScale(std::int64_t blocks, std::int64_t weightLayers) {
    if (weightLayers < 2) return 1.0;
    return std::pow(static_cast<double>(blocks), -1.0 / (2.0 * static_cast<double>(weightLayers) - 2.0));
}

template <typename Scalar>
class Residual : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `layers`, `projection`, `gate`, `gate_init`, `norm`, `normaliser` and `fixup_blocks`; the layers are
    /// made in build(), when their input shape is known.
    explicit Residual(const gradlab::Options& options)
        : options_(options),
          specs_(options.pluginList("layers")),
          projectionMode_(options.string("projection")),
          gated_(options.string("gate") == "scalar"),
          gateInit_(options.real("gate_init")),
          placement_(placementFromName(options.string("norm"))),
          fixupBlocks_(options.integer("fixup_blocks")) {
        if (specs_.empty()) throw gradlab::Error("a residual block needs at least one layer in 'layers'");
        if (!gated_ && gateInit_ != 0.0)
            throw gradlab::Error("option 'gate_init' is " + std::to_string(gateInit_) +
                                 " but 'gate' is 'none'; set gate: scalar to learn a gate");
        if (fixupBlocks_ > 0 && gated_)
            throw gradlab::Error("fixup_blocks and gate: scalar together: Fixup has its own multiplier "
                                 "(fixup_scale, starting at 1); use one or the other");
        if (fixupBlocks_ > 0 && placement_ != NormPlacement::none)
            throw gradlab::Error("fixup_blocks with norm: " + options.string("norm") +
                                 ": Fixup is an initialisation for blocks without normalisation; use norm: none");
    }

    Shape build(const Shape& input) override {
        Shape shape = input;
        if (placement_ == NormPlacement::pre) buildNormaliser(shape);
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
        if (gated_)
            multiplier_ = &this->addParameter("alpha", 1, 1,
                                              gradlab::ParameterInit::bias(1, 1, gradlab::InitializerSpec::constant(gateInit_)));
        if (fixupBlocks_ > 0) applyFixup(input, shape);
        if (placement_ == NormPlacement::post) buildNormaliser(shape);
        outputs_.resize(body_.size());
        signals_.resize(body_.size());
        shiftedInputs_.resize(fixupBiases_.empty() ? 0 : body_.size());
        return shape;
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        // A block reports no statistics of its own layers (statistics() keeps the default), so they need not
        // compute any: the tracing flag the host set on them is cleared (their saturation passes cost ~1% of a
        // traced step of 16 dense-batchnorm-relu blocks).
        if (this->tracing()) {
            for (auto& layer : body_) layer->setTracing(false);
            if (normaliser_) normaliser_->setTracing(false);
        }
        const MatrixType* input = &x;
        if (placement_ == NormPlacement::pre) {
            normaliser_->forward(x, normalized_, phase);
            input = &normalized_;
        }
        for (std::size_t i = 0; i < body_.size(); ++i) {
            if (!fixupBiases_.empty()) {
                shiftedInputs_[i] = input->array() + fixupBiases_[i]->value(0, 0);
                input = &shiftedInputs_[i];
            }
            body_[i]->forward(*input, outputs_[i], phase);
            input = &outputs_[i];
        }
        const MatrixType& branch = outputs_.back();
        // The block's sum S(x) + s F(x): the output itself, or the normaliser's input for post-norm.
        MatrixType& sum = placement_ == NormPlacement::post ? sum_ : y;
        if (projection_)
            sum.noalias() = projection_->value * x;
        else
            sum = x;
        if (multiplier_)
            sum.noalias() += multiplier_->value(0, 0) * branch;
        else
            sum += branch;
        if (fixupOutputBias_) sum.array() += fixupOutputBias_->value(0, 0);
        if (placement_ == NormPlacement::post) normaliser_->forward(sum_, y, phase);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        // g = dL/d(sum): dy itself, or what the post-norm normaliser passes back.
        if (placement_ == NormPlacement::post) normaliser_->backward(sum_, y, dy, &sumGradient_);
        const MatrixType& sumGradient = placement_ == NormPlacement::post ? sumGradient_ : dy;
        if (fixupOutputBias_) fixupOutputBias_->grad(0, 0) += sumGradient.sum();
        const MatrixType* branchGradient = &sumGradient;
        if (multiplier_) {
            multiplier_->grad(0, 0) += (sumGradient.array() * outputs_.back().array()).sum();  // <g, F(x)>
            branchGradient_ = multiplier_->value(0, 0) * sumGradient;
            branchGradient = &branchGradient_;
        }
        // The body's last layer receives the branch gradient; signals_[i] is dL/d(output of body layer i). The
        // first layer's input gradient is needed for dx, and also for a Fixup bias or a pre-norm normaliser in
        // front of it.
        const bool needBranchInputGradient = dx || !fixupBiases_.empty() || placement_ == NormPlacement::pre;
        const std::size_t last = body_.size() - 1;
        for (std::size_t i = last + 1; i-- > 0;) {
            const MatrixType& input = !fixupBiases_.empty() ? shiftedInputs_[i]
                                      : i > 0               ? outputs_[i - 1]
                                      : placement_ == NormPlacement::pre ? normalized_
                                                                         : x;
            const MatrixType& outputGradient = i == last ? *branchGradient : signals_[i];
            MatrixType* inputGradient =
                i == 0 ? (needBranchInputGradient ? &bodyInputGradient_ : nullptr) : &signals_[i - 1];
            body_[i]->backward(input, outputs_[i], outputGradient, inputGradient);
            // x + c_i feeds layer i: dL/dc_i is the sum of its input gradient.
            if (!fixupBiases_.empty() && inputGradient) fixupBiases_[i]->grad(0, 0) += inputGradient->sum();
        }
        if (placement_ == NormPlacement::pre) {
            normaliser_->backward(x, normalized_, bodyInputGradient_, dx ? &normalizerInputGradient_ : nullptr);
        }
        if (projection_) projection_->grad.noalias() += sumGradient * x.transpose();
        if (!dx) return;
        const MatrixType& branchInputGradient =
            placement_ == NormPlacement::pre ? normalizerInputGradient_ : bodyInputGradient_;
        dx->resize(x.rows(), x.cols());
        if (projection_) {
            dx->noalias() = projection_->value.transpose() * sumGradient;
            *dx += branchInputGradient;
        } else {
            *dx = branchInputGradient + sumGradient;
        }
    }

    /// Coupled when a body layer or the normaliser couples the samples (batch norm in training).
    bool couplesSamples(gradlab::Phase phase) const override {
        for (const auto& layer : body_)
            if (layer->couplesSamples(phase)) return true;
        return normaliser_ && normaliser_->couplesSamples(phase);
    }

    /// The projection's factors are (dL/dy, x), alpha's the row of per-column <dL/dy_c, F(x)_c> with ones, then
    /// each body layer's own, on the inputs and output gradients it saw. None with a normaliser or Fixup's
    /// scalars, or when a body layer has none.
    bool sampleGradientFactors(const MatrixType& x, const MatrixType& dy,
                               std::vector<gradlab::SampleGradientFactor<Scalar>>& factors) const override {
        if (normaliser_ || fixupBlocks_ > 0) return false;
        factors.clear();
        if (projection_) factors.push_back({&dy, &x});
        if (multiplier_) {
            gateColumns_ = (dy.array() * outputs_.back().array()).colwise().sum();
            factors.push_back({&gateColumns_, nullptr});
        }
        std::vector<gradlab::SampleGradientFactor<Scalar>> inner;
        const std::size_t last = body_.size() - 1;
        for (std::size_t i = 0; i < body_.size(); ++i) {
            const MatrixType& input = i > 0 ? outputs_[i - 1] : x;
            const MatrixType& outputGradient = i < last ? signals_[i] : multiplier_ ? branchGradient_ : dy;
            std::vector<gradlab::NamedParameter<Scalar>> parameters;
            body_[i]->collectParameters("", parameters);
            if (parameters.empty()) continue;
            if (!body_[i]->sampleGradientFactors(input, outputGradient, inner)) return false;
            factors.insert(factors.end(), inner.begin(), inner.end());
        }
        return true;
    }

private:
    /// Makes the `normaliser` layer for inputs of `shape` (the block's input for pre-norm, its output for
    /// post-norm) and checks that it keeps the shape.
    void buildNormaliser(const Shape& shape) {
        const gradlab::PluginSpec& spec = options_.plugin("normaliser");
        Shape normalized = shape;
        normaliser_ = gradlab::buildLayer<Scalar>(options_, spec, normalized);
        if (normalized.features != shape.features || normalized.timesteps != shape.timesteps)
            throw gradlab::Error("the normaliser '" + spec.name + "' maps " + std::to_string(shape.features) + "x" +
                                 std::to_string(shape.timesteps) + " (features x timesteps) to " +
                                 std::to_string(normalized.features) + "x" + std::to_string(normalized.timesteps) +
                                 "; a normaliser must keep the shape (layernorm, batchnorm)");
        this->addChild("normaliser." + spec.name, *normaliser_);
    }

    /// Declares Fixup's multiplier and scalar biases and sets the branch weights' initializers (file comment).
    void applyFixup(const Shape& input, const Shape& output) {
        if (input.features != output.features)
            throw gradlab::Error("fixup_blocks needs a branch that keeps the width (" + std::to_string(input.features) +
                                 " features in, " + std::to_string(output.features) +
                                 " out): Fixup's derivation assumes identity skip paths");
        std::vector<std::vector<gradlab::Parameter<Scalar>*>> weightsPerLayer;
        for (auto& layer : body_) {
            std::vector<gradlab::NamedParameter<Scalar>> parameters;
            layer->collectParameters("", parameters);
            std::vector<gradlab::Parameter<Scalar>*> weights;
            for (auto& parameter : parameters)
                if (parameter.parameter->init.isWeight) weights.push_back(parameter.parameter);
            if (!weights.empty()) weightsPerLayer.push_back(std::move(weights));
        }
        if (weightsPerLayer.empty())
            throw gradlab::Error("fixup_blocks needs a branch with at least one weight layer (e.g. dense); "
                                 "the block's layers declare no weights");
        const std::int64_t m = static_cast<std::int64_t>(weightsPerLayer.size());
        const double gain = std::sqrt(2.0) * fixupScale(fixupBlocks_, m);
        for (std::size_t l = 0; l < weightsPerLayer.size(); ++l)
            for (auto* weight : weightsPerLayer[l])
                weight->init.initializer = l + 1 == weightsPerLayer.size()
                                               ? gradlab::InitializerSpec("zeros")
                                               : gradlab::InitializerSpec("he_normal").with("gain", gain);
        multiplier_ = &this->addParameter("fixup_scale", 1, 1,
                                          gradlab::ParameterInit::bias(1, 1, gradlab::InitializerSpec::constant(1.0)));
        for (std::size_t i = 0; i < body_.size(); ++i)
            fixupBiases_.push_back(
                &this->addParameter("fixup_bias_" + std::to_string(i), 1, 1, gradlab::ParameterInit::bias(1, 1)));
        fixupOutputBias_ = &this->addParameter("fixup_bias_out", 1, 1, gradlab::ParameterInit::bias(1, 1));
    }

    gradlab::Options options_;  ///< kept for its plugin factory, which builds the layers
    std::vector<gradlab::PluginSpec> specs_;
    std::string projectionMode_;
    bool gated_ = false;
    double gateInit_ = 0.0;
    NormPlacement placement_ = NormPlacement::none;
    std::int64_t fixupBlocks_ = 0;
    std::vector<std::shared_ptr<gradlab::Layer<Scalar>>> body_;
    std::vector<std::string> childNames_;
    std::shared_ptr<gradlab::Layer<Scalar>> normaliser_;    ///< N, with norm: pre or post
    gradlab::Parameter<Scalar>* projection_ = nullptr;
    gradlab::Parameter<Scalar>* multiplier_ = nullptr;       ///< alpha (gate: scalar) or fixup_scale
    std::vector<gradlab::Parameter<Scalar>*> fixupBiases_;  ///< c_i, before body layer i
    gradlab::Parameter<Scalar>* fixupOutputBias_ = nullptr;  ///< c_out, after the multiplier
    std::vector<MatrixType> outputs_, signals_;  ///< body outputs; dL/d(body output i) for i < last
    std::vector<MatrixType> shiftedInputs_;      ///< Fixup: the input of body layer i plus c_i
    MatrixType normalized_;                      ///< pre-norm: N(x)
    MatrixType sum_;                             ///< post-norm: S(x) + s F(x), the normaliser's input
    MatrixType sumGradient_;                     ///< post-norm: dL/d(sum)
    MatrixType branchGradient_;                  ///< with a multiplier: s dL/d(sum)
    MatrixType bodyInputGradient_;               ///< dL/d(input of the first body layer)
    MatrixType normalizerInputGradient_;         ///< pre-norm: the branch's dL/dx through N
    mutable MatrixType gateColumns_;             ///< sampleGradientFactors: <dL/dy_c, F(x)_c> per column, [1 x n]
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_residual", "1.1.0", registry) {
    using gradlab::OptionSpec;
    registry.addLayer<Residual>("residual", "y = S(x) + F(x), F a list of layers, S the identity or a learned projection "
                                            "when widths differ (He et al. 2016); optional scalar gate (ReZero, SkipInit), "
                                            "pre- or post-norm, Fixup")
        .option(OptionSpec::layers("layers", "the block's layers F, applied in order"))
        .option(OptionSpec::choice("projection", "auto", {"auto", "always", "never"},
                                   "auto: project x only when F changes the width"))
        .option(OptionSpec::choice("gate", "none", {"none", "scalar"},
                                   "scalar: y = S(x) + alpha F(x) with a learned alpha [1 x 1] (De & Smith 2020; "
                                   "Bachlechner et al. 2020)"))
        .option(OptionSpec::real("gate_init", 0.0, "alpha's initial value (0: the block starts as the identity)"))
        .option(OptionSpec::choice("norm", "none", {"none", "pre", "post"},
                                   "pre: y = S(x) + F(N(x)); post: y = N(S(x) + F(x)) (Xiong et al. 2020)"))
        .option(OptionSpec::layer("normaliser", "layernorm",
                                  "N for norm: pre or post, a layer that keeps the shape (layernorm, batchnorm)"))
        .option(OptionSpec::integer("fixup_blocks", 0,
                                    "L > 0: Fixup for a model of L such blocks (Zhang et al. 2019): last branch weights "
                                    "zero, the others he_normal times L^(-1/(2m-2)), scalar biases and a multiplier")
                    .min(0));
}
