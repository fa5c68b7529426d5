#pragma once
/// @file detectors_state.hpp
/// What the detectors (training/detectors.hpp) carry from one traced step to the next, as a checkpoint stores it.

#include <vector>

namespace gradlab {

/// What the detectors remember from one traced step to the next, for checkpoints.
struct DetectorsState {
    std::vector<double> gradNorms, losses;  ///< the windows, oldest first
    bool explodingFired = false, vanishingFired = false, stalledFired = false;
    std::vector<bool> saturatedFired;       ///< per layer
};

}  // namespace gradlab
