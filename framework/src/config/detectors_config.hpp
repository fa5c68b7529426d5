#pragma once
/// @file detectors_config.hpp
/// The `detectors:` section of a run config: thresholds and actions of the detectors (training/detectors.hpp).

#include <cstdint>

namespace gradlab {

/// Thresholds and actions, read from the config's `detectors:` section. Windows count traced steps.
struct DetectorsConfig {
    bool nonFiniteStops = true;
    double explodingNorm = 1e8;        ///< global gradient norm above this
    double explodingGrowth = 1e3;      ///< or growth by this factor ...
    std::int64_t explodingWindow = 10; ///< ... within this many traced steps
    bool explodingStops = false;
    double vanishingRatio = 1e-5;      ///< first-layer / last-layer signal norm (and dL/dh_1 / dL/dh_T) below this
    bool vanishingStops = false;
    double stalledLossChange = 1e-7;   ///< relative loss change over the window below this ...
    double stalledUpdateRatio = 1e-10; ///< ... or total update norm / total parameter norm below this
    std::int64_t stalledWindow = 50;
    bool stalledStops = false;
    double saturatedSlope = 1e-3;      ///< a unit is dead or saturated when max |f'| over the batch is below this
    double saturatedFraction = 0.5;    ///< fire when more than this fraction of a layer's units are
    bool saturatedStops = false;
};

}  // namespace gradlab
