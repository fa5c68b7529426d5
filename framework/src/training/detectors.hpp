#pragma once
/// @file detectors.hpp
/// The signs practitioners read gradient trouble by, watched while training: non-finite values, exploding
/// and vanishing gradient norms, stalled training, dead or saturated units. Each firing is an Event, stored
/// in the trace's /events table; each detector records or also stops the run.

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "checkpoint/detectors_state.hpp"
#include "config/detectors_config.hpp"
#include "trace/trace_schema.hpp"

namespace gradlab {

/// What one traced step measured, for the detectors.
struct StepMeasurements {
    std::int64_t step = 0;
    double loss = 0;
    double gradNorm = 0;
    double updateRatio = 0;                         ///< total update norm / total parameter norm
    const std::vector<double>* signalNorms = nullptr;  ///< per layer, dL/d(output)
    const std::vector<double>* saturation = nullptr;   ///< per layer, fraction of saturated units (NaN: none)
    /// Recurrent layers: (layer index, ||dL/dh_1|| / ||dL/dh_T||).
    const std::vector<std::pair<std::size_t, double>>* timestepRatios = nullptr;
};

/// Watches traced steps; every detector but saturation fires at most once per run, saturation once per layer.
class Detectors {
public:
    Detectors(DetectorsConfig config, std::vector<std::string> layerNames);

    /// Checks one traced step; appends any firing to `fired`. Returns whether a firing asks to stop.
    bool observe(const StepMeasurements& step, std::vector<Event>& fired);

    const DetectorsConfig& config() const { return config_; }

    /// The windows and what has fired, to checkpoint.
    DetectorsState state() const;

    /// Continues from a state(); throws Error if it was taken with another number of layers.
    void restore(const DetectorsState& state);

private:
    DetectorsConfig config_;
    std::vector<std::string> layerNames_;
    std::deque<double> gradNorms_, losses_;
    bool explodingFired_ = false, vanishingFired_ = false, stalledFired_ = false;
    std::vector<bool> saturatedFired_;
};

}  // namespace gradlab
