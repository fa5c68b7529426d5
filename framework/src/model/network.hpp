#pragma once
/// @file network.hpp
/// A stack of layer plugins with the buffers that forward and backward passes reuse step after step.

#include <memory>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "data/data_shape.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/random.hpp"
#include "plugin/plugin_host.hpp"

namespace gradlab {

/// Initialises one declared parameter from its init.initializer (the layer's typed default, or the config's
/// `init:` override applied by applyInitOverrides), drawing from `random`.
template <typename Scalar>
void initializeParameter(Parameter<Scalar>& parameter, const PluginHost& host, Random& random);

/// Layers in sequence. Output l is layer l's output; signal l is dLoss/d(output l), the back-propagated
/// signal whose norm the trace records per layer.
template <typename Scalar>
class Network {
public:
    using MatrixType = Matrix<Scalar>;

    /// Makes and builds every layer for `input`, then initialises every parameter from the layer's `init:`
    /// or its declared default, drawing from `random`. Errors name the layer's place in the config.
    Network(const std::vector<PluginSpec>& layers, Shape input, const PluginHost& host, Random& random);

    std::size_t size() const { return layers_.size(); }
    Shape outputShape() const { return outputShape_; }
    const std::vector<std::string>& layerNames() const { return names_; }
    const std::vector<std::string>& layerKinds() const { return kinds_; }
    Layer<Scalar>& layer(std::size_t index) { return *layers_[index]; }

    /// Every parameter, qualified `layers.<index>.<layer>.<name>`, in layer order.
    const std::vector<NamedParameter<Scalar>>& parameters() const { return parameters_; }

    /// requires: x is [input features x columns]. ensures: every output recomputed; returns the last.
    const MatrixType& forward(const MatrixType& x, Phase phase);

    /// The gradient of the loss with respect to the network's output, for the loss to fill before backward().
    MatrixType& outputGradient() { return signals_.back(); }

    /// requires: forward(x, train) and outputGradient() filled. ensures: every signal computed; parameter
    /// gradients accumulated (+=), or, with `zeroGradients`, set to this backward's gradients: each layer's are
    /// zeroed right before the layer adds into them, while they are in cache (zeroGradients() then backward(x)
    /// gives the same values, but walks every gradient through memory once more). The input gradient of the
    /// first layer is not computed.
    void backward(const MatrixType& x, bool zeroGradients = false);

    /// backward() from layer `top` down: requires forward(x, phase) and signalBuffer(top) filled with the
    /// gradient at layer top's output. ensures: signals of layers below top computed, parameter gradients of
    /// layers 0..top as in backward(); *inputGradient (if not null) overwritten with the gradient at x.
    void backwardFrom(std::size_t top, const MatrixType& x, MatrixType* inputGradient, bool zeroGradients);

    /// The buffer signal(layer) lives in, for a caller of backwardFrom() to fill.
    MatrixType& signalBuffer(std::size_t layer) { return signals_[layer]; }

    /// Sets every parameter gradient to zero.
    void zeroGradients();

    const MatrixType& output(std::size_t layer) const { return outputs_[layer]; }
    /// The shape layer `layer` produces (timesteps > 1 for sequence outputs).
    Shape outputShape(std::size_t layer) const { return shapes_[layer]; }
    const MatrixType& signal(std::size_t layer) const { return signals_[layer]; }

private:
    std::vector<std::shared_ptr<Layer<Scalar>>> layers_;
    std::vector<std::string> names_, kinds_;
    std::vector<NamedParameter<Scalar>> parameters_;
    std::vector<std::size_t> firstParameter_;  ///< per layer, its first entry in parameters_; then parameters_.size()
    std::vector<MatrixType> outputs_, signals_;
    std::vector<Shape> shapes_;
    Shape outputShape_;
};

/// The one model build of `gradlab run` and `gradlab validate`: makes and builds the config's layers for
/// `data.input`, initialises their parameters (from `random`), and checks that the output fits the data and the
/// loss (as many timesteps as the targets, as many outputs as the targets have rows or the data has classes,
/// class labels only with a classification loss). Throws Error naming the config file and the layer.
template <typename Scalar>
std::unique_ptr<Network<Scalar>> buildNetwork(const RunConfig& config, const DataShape& data, const PluginHost& host,
                                              Random& random);

}  // namespace gradlab
