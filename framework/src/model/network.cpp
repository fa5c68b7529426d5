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
    for (std::size_t index = layers_.size(); index-- > 0;) {
        if (zeroGradients)
            for (std::size_t p = firstParameter_[index]; p < firstParameter_[index + 1]; ++p)
                parameters_[p].parameter->grad.setZero();
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
template void initializeParameter<float>(Parameter<float>&, const PluginHost&, Random&);
template void initializeParameter<double>(Parameter<double>&, const PluginHost&, Random&);

}  // namespace gradlab
