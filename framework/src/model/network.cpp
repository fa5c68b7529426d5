#include "model/network.hpp"

#include "config/plugin_spec_reader.hpp"
#include "util/suggest.hpp"

namespace gradlab {

template <typename Scalar>
Network<Scalar>::Network(const std::vector<LayerConfig>& layers, Shape input, const PluginHost& host,
                         Random& random) {
    Shape shape = input;
    for (std::size_t index = 0; index < layers.size(); ++index) {
        const LayerConfig& config = layers[index];
        auto layer = host.makeLayer<Scalar>(config.spec);
        std::string display = config.spec.name;
        if (config.spec.name == "activation" && config.spec.options &&
            config.spec.options->plugins().count("activation"))
            display = config.spec.options->plugin("activation").name;
        const std::string name = "layers." + std::to_string(index) + "." + display;
        try {
            shape = layer->build(shape);
        } catch (const std::exception& error) {
            throw Error(config.where + ": " + name + ": " + error.what());
        }
        if (shape.features < 1)
            throw Error(config.where + ": " + name + ": the layer's output has " + std::to_string(shape.features) +
                        " features");

        std::vector<NamedParameter<Scalar>> own;
        layer->collectParameters("", own);
        std::vector<std::string> localNames;
        for (const auto& parameter : own) localNames.push_back(parameter.name);
        for (const auto& [parameterName, spec] : config.init) {
            bool found = false;
            for (const auto& local : localNames) found = found || local == parameterName;
            if (!found)
                throw Error(config.where + ": " + name + ": init: no parameter '" + parameterName + "'" +
                            (localNames.empty() ? std::string(" (this layer has no parameters)")
                                                : suggestionSuffix(parameterName, localNames)));
        }
        for (auto& parameter : own) {
            auto chosen = config.init.find(parameter.name);
            const PluginSpec spec = chosen != config.init.end()
                                        ? chosen->second
                                        : readPluginSpecText(parameter.parameter->init.initializer,
                                                             PluginKind::initializer, host,
                                                             name + "." + parameter.name + " default initializer");
            try {
                host.makeInitializer<Scalar>(spec)->initialize(parameter.parameter->value, parameter.parameter->init,
                                                               random);
            } catch (const std::exception& error) {
                throw Error(config.where + ": " + name + "." + parameter.name + ": " + error.what());
            }
            parameter.parameter->grad.setZero();
            parameters_.push_back({name + "." + parameter.name, parameter.parameter});
        }
        layers_.push_back(std::move(layer));
        names_.push_back(name);
        kinds_.push_back(config.spec.name);
    }
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
void Network<Scalar>::backward(const MatrixType& x) {
    for (std::size_t index = layers_.size(); index-- > 0;) {
        const MatrixType& input = index == 0 ? x : outputs_[index - 1];
        MatrixType* inputGradient = index == 0 ? nullptr : &signals_[index - 1];
        layers_[index]->backward(input, outputs_[index], signals_[index], inputGradient);
    }
}

template <typename Scalar>
void Network<Scalar>::zeroGradients() {
    for (auto& parameter : parameters_) parameter.parameter->grad.setZero();
}

template class Network<float>;
template class Network<double>;

}  // namespace gradlab
