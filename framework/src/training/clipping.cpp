#include "training/clipping.hpp"

#include <cmath>

#include "training/norms.hpp"

namespace gradlab {

template <typename Scalar>
ClipResult clipGradients(const ClipConfig& clip, const std::vector<NamedParameter<Scalar>>& parameters,
                         std::vector<double>& parameterClipped) {
    // parameterClipped first holds each parameter's norm (no allocation after the first step), then the flags.
    std::vector<double>& flags = parameterClipped;
    flags.resize(parameters.size());
    for (std::size_t i = 0; i < parameters.size(); ++i) flags[i] = l2Norm(parameters[i].parameter->grad);
    ClipResult result;
    result.normBefore = l2NormOfNorms(flags.data(), flags.size());
    result.normAfter = result.normBefore;
    const double threshold = clip.threshold;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
        auto& grad = parameters[i].parameter->grad;
        bool changed = false;
        if (clip.mode == "global_norm") {
            changed = result.normBefore > threshold && std::isfinite(result.normBefore);
            if (changed) grad *= static_cast<Scalar>(threshold / result.normBefore);
        } else if (clip.mode == "parameter_norm") {
            changed = flags[i] > threshold && std::isfinite(flags[i]);
            if (changed) grad *= static_cast<Scalar>(threshold / flags[i]);
        } else if (clip.mode == "value") {
            const Scalar limit = static_cast<Scalar>(threshold);
            changed = (grad.array().abs() > limit).any();
            if (changed) grad = grad.cwiseMax(-limit).cwiseMin(limit);
        }
        flags[i] = changed ? 1.0 : 0.0;
        result.clipped = result.clipped || changed;
    }
    if (result.clipped) {
        NormAccumulator after;
        for (const auto& parameter : parameters) after.add(l2Norm(parameter.parameter->grad));
        result.normAfter = after.norm();
    }
    return result;
}

template ClipResult clipGradients<float>(const ClipConfig&, const std::vector<NamedParameter<float>>&,
                                         std::vector<double>&);
template ClipResult clipGradients<double>(const ClipConfig&, const std::vector<NamedParameter<double>>&,
                                          std::vector<double>&);

}  // namespace gradlab
