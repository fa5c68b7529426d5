#pragma once
/// @file clip_config.hpp
/// The `training.clip` section of a run config: how gradients are clipped (training/clipping.hpp applies it).

#include <string>

namespace gradlab {

/// How gradients are clipped, read from `training.clip`.
struct ClipConfig {
    std::string mode = "none";  ///< none | global_norm | parameter_norm | value
    double threshold = 1.0;
};

}  // namespace gradlab
