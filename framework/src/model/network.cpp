#include "model/network.hpp"

#include "config/plugin_spec_reader.hpp"
#include "plugin/init_overrides.hpp"

namespace gradlab {

template <typename Scalar>
void initializeParameter(Parameter<Scalar>& parameter, const PluginHost& host, Random& random) {
    const PluginSpec initializer = readPluginSpec(parameter.init.initializer, host, "");
    host.makeInitializer<Scalar>(initializer)->initialize(parameter.value, parameter.init, random);
}

template <typename Scalar>
Network<Scalar>::Network(const std::vector<PluginSpec>& layers, Shape input, const PluginHost& host,
                         Random& random) {
    Shape shape = input;
    for (std::size_t index = 0; index < layers.size(); ++index) {
        const PluginSpec& spec = layers[index];
        auto layer = host.makeLayer<Scalar>(spec);
        std::string display = spec.name;
        if (spec.name == "activation" && spec.options && spec.options->plugins().count("activation"))
            display = spec.options->plugin("activation").name;
        const std::string name = "layers." + std::to_string(index) + "." + display;
        try {
            shape = layer->build(shape);
            applyInitOverrides(*layer, spec.init);
        } catch (const std::exception& error) {
            throw Error(spec.where + ": " + name + ": " + error.what());
        }
        if (shape.features < 1)
            throw Error(spec.where + ": " + name + ": the layer's output has " + std::to_string(shape.features) +
                        " features");

        std::vector<NamedParameter<Scalar>> own;
        layer->collectParameters("", own);
        firstParameter_.push_back(parameters_.size());
        for (auto& parameter : own) {
            try {
                initializeParameter(*parameter.parameter, host, random);
            } catch (const std::exception& error) {
                throw Error(spec.where + ": " + name + "." + parameter.name + ": " + error.what());
            }
            parameter.parameter->grad.setZero();
            parameters_.push_back({name + "." + parameter.name, parameter.parameter});
        }
        layers_.push_back(std::move(layer));
        shapes_.push_back(shape);
        names_.push_back(name);
        kinds_.push_back(spec.name);
    }
    firstParameter_.push_back(parameters_.size());
    outputShape_ = shape;
    outputs_.resize(layers_.size());
    signals_.resize(layers_.size());
}

template <typename Scalar>
const typename Network<Scalar>::MatrixType& Network<Scalar>::forward(const MatrixType& x, Phase phase) {
    const MatrixType* input = &x;
    for (std::size_t index = 0; index < layers_.size(); ++index) {
        layers_[index]->forward(*input, outputs_[index], phase);
        input = &outputs_[index];
    }
    return outputs_.back();
}

template <typename Scalar>
void Network<Scalar>::backward(const MatrixType& x, bool zeroGradients) {
    backwardFrom(layers_.size() - 1, x, nullptr, zeroGradients);
}

template <typename Scalar>
void Network<Scalar>::backwardFrom(std::size_t top, const MatrixType& x, MatrixType* inputGradient,
                                   bool zeroGradients) {
    for (std::size_t index = top + 1; index-- > 0;) {
        if (zeroGradients)
            for (std::size_t p = firstParameter_[index]; p < firstParameter_[index + 1]; ++p)
                parameters_[p].parameter->grad.setZero();
        const MatrixType& input = index == 0 ? x : outputs_[index - 1];
        MatrixType* below = index == 0 ? inputGradient : &signals_[index - 1];
        layers_[index]->backward(input, outputs_[index], signals_[index], below);
    }
}

template <typename Scalar>
void Network<Scalar>::zeroGradients() {
    for (auto& parameter : parameters_) parameter.parameter->grad.setZero();
}

namespace {

/// Throws unless a model ending in `output` fits `data` and the config's loss.
void checkOutputShape(const RunConfig& config, const DataShape& data, const Shape& output) {
    if (output.timesteps != data.targetTimesteps)
        throw Error(config.file + ": the model ends with " + std::to_string(output.timesteps) +
                    " timestep(s) but the data has " + std::to_string(data.targetTimesteps) + " target timestep(s)" +
                    (data.targetTimesteps == 1 ? "; end the recurrent layers with return_sequences: false"
                                               : "; keep return_sequences: true up to the head"));
    const Index outputs = output.features;
    const std::string& loss = config.loss.kind;
    const bool classIndices = data.classes > 0 && data.outputs == 1;
    Index expected = data.outputs;
    if (classIndices && loss == "softmax_cross_entropy") expected = data.classes;
    if (data.classes == 0 && loss == "softmax_cross_entropy" && data.outputs == 1)
        throw Error(config.file + ": loss: softmax_cross_entropy needs class labels, but the data ('" + config.data.kind +
                    "') has one numeric target per sample (use mse or sse, or class data)");
    if (classIndices && (loss == "sse" || loss == "mse"))
        throw Error(config.file + ": loss '" + loss + "' needs numeric targets, but the data has class labels "
                    "(use softmax_cross_entropy, or binary_cross_entropy for two classes; image data (idx, fashion_mnist) "
                    "gives one-hot targets for mse or sse with data.targets: one_hot)");
    if (classIndices && loss == "binary_cross_entropy" && data.classes > 2)
        throw Error(config.file + ": binary_cross_entropy needs two classes, the data has " +
                    std::to_string(data.classes));
    if (outputs != expected)
        throw Error(config.file + ": the model ends with " + std::to_string(outputs) + " outputs, but " +
                    (classIndices && loss == "softmax_cross_entropy"
                         ? "the data has " + std::to_string(data.classes) + " classes"
                         : "the targets have " + std::to_string(expected) + " rows") +
                    "; set the last layer's units to " + std::to_string(expected));
}

}  // namespace

template <typename Scalar>
std::unique_ptr<Network<Scalar>> buildNetwork(const RunConfig& config, const DataShape& data, const PluginHost& host,
                                              Random& random) {
    auto network = std::make_unique<Network<Scalar>>(config.layers, data.input, host, random);
    checkOutputShape(config, data, network->outputShape());
    return network;
}

template class Network<float>;
template class Network<double>;
template void initializeParameter<float>(Parameter<float>&, const PluginHost&, Random&);
template void initializeParameter<double>(Parameter<double>&, const PluginHost&, Random&);
template std::unique_ptr<Network<float>> buildNetwork<float>(const RunConfig&, const DataShape&, const PluginHost&,
                                                             Random&);
template std::unique_ptr<Network<double>> buildNetwork<double>(const RunConfig&, const DataShape&, const PluginHost&,
                                                               Random&);

}  // namespace gradlab
