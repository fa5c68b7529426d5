#include "theory/dense_stack.hpp"

namespace gradlab::theory {

DenseStack scanDenseStack(const std::vector<PluginSpec>& layers, const std::vector<std::string>& names) {
    DenseStack stack;
    for (std::size_t l = 0; l < layers.size() && l < names.size(); ++l) {
        const PluginSpec& spec = layers[l];
        const PluginSpec* used = nullptr;
        if (spec.name == "dense") {
            stack.dense.push_back(l);
            used = &spec.options->plugin("activation");
        } else if (spec.name == "activation") {
            used = &spec.options->plugin("activation");
        } else {
            stack.note = "layer " + names[l] + " (" + spec.name + ") is neither a dense layer nor an element-wise activation";
            return stack;
        }
        if (used->name == "identity") continue;  // a no-op for the theory
        ++stack.activationLayers;
        if (stack.activation != nullptr && used->name != stack.activation->name) {
            stack.note = "mixed activations (" + stack.activation->name + " and " + used->name + ")";
            return stack;
        }
        stack.activation = used;
    }
    return stack;
}

template <typename Scalar>
Variances measuredVariances(Network<Scalar>& network, const std::vector<PluginSpec>& layers,
                            const std::vector<std::size_t>& which) {
    Variances variances;
    if (which.empty()) return variances;
    for (std::size_t l : which) {
        Layer<Scalar>& layer = network.layer(l);
        const Matrix<double> weight = layer.param("W").value.template cast<double>();
        variances.sigmaW2 += weight.squaredNorm() / static_cast<double>(weight.rows());
        if (layers[l].options->boolean("bias")) {
            const Matrix<double> bias = layer.param("b").value.template cast<double>();
            variances.sigmaB2 += bias.squaredNorm() / static_cast<double>(bias.size());
        }
    }
    variances.sigmaW2 /= static_cast<double>(which.size());
    variances.sigmaB2 /= static_cast<double>(which.size());
    return variances;
}

template Variances measuredVariances<float>(Network<float>&, const std::vector<PluginSpec>&, const std::vector<std::size_t>&);
template Variances measuredVariances<double>(Network<double>&, const std::vector<PluginSpec>&, const std::vector<std::size_t>&);

}  // namespace gradlab::theory
