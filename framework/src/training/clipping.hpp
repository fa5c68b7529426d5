#pragma once
/// @file clipping.hpp
/// Gradient clipping (Pascanu, Mikolov & Bengio 2013): rescale or clamp gradients before the update.

#include <string>
#include <vector>

#include "config/clip_config.hpp"
#include "gradlab/module.hpp"

namespace gradlab {

/// What clipping did at one step.
struct ClipResult {
    double normBefore = 0;  ///< global L2 norm of all gradients before clipping
    double normAfter = 0;   ///< and after
    bool clipped = false;   ///< whether any gradient changed
};

/// Clips the gradients of `parameters` in place:
///  - global_norm: if ||g|| > t over all parameters together, every gradient is scaled by t / ||g||;
///  - parameter_norm: each parameter's gradient with ||g_p|| > t is scaled to norm t on its own;
///  - value: every element is clamped to [-t, t].
/// `parameterClipped[i]` (resized to the parameter count) says which parameters changed. O(parameters).
template <typename Scalar>
ClipResult clipGradients(const ClipConfig& clip, const std::vector<NamedParameter<Scalar>>& parameters,
                         std::vector<double>& parameterClipped);

}  // namespace gradlab
