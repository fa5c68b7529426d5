#pragma once
/// @file dense_stack.hpp
/// Whether a model is the network mean-field theory and free probability describe (dense layers, each followed
/// by one element-wise activation phi, the same phi everywhere), and its measured sigma_w^2 and sigma_b^2: the one
/// scan of the config's layers behind the trace's /theory (training/run_trace.hpp) and the probes' MeanFieldView
/// (probe/probe_runner.cpp).

#include <cstddef>
#include <string>
#include <vector>

#include "gradlab/options.hpp"
#include "model/network.hpp"

namespace gradlab::theory {

/// The dense layers and the activation of a config's layer list.
struct DenseStack {
    std::vector<std::size_t> dense;       ///< indices of the dense layers, in order
    const PluginSpec* activation = nullptr;  ///< phi (null: no activation other than identity)
    std::size_t activationLayers = 0;     ///< layers applying phi (dense layers with it and activation layers)
    std::string note;                     ///< empty, or why the model is not such a stack
};

/// Scans `layers` (with their `names`): every layer must be dense or an element-wise activation, and every
/// activation but identity the same one. On the first layer that is neither, or the second activation, note
/// says so and the scan stops.
DenseStack scanDenseStack(const std::vector<PluginSpec>& layers, const std::vector<std::string>& names);

/// sigma_w^2 (mean over `which` of ||W||^2 / rows: fan-in times the mean of W^2) and sigma_b^2 (mean of b^2, 0 for
/// a layer without bias), averaged over the dense layers `which` of `network`, computed in double (a float32
/// weight of 5e18 squares beyond float's range).
struct Variances {
    double sigmaW2 = 0;
    double sigmaB2 = 0;
};
template <typename Scalar>
Variances measuredVariances(Network<Scalar>& network, const std::vector<PluginSpec>& layers,
                            const std::vector<std::size_t>& which);

}  // namespace gradlab::theory
