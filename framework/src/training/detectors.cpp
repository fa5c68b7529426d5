#include "training/detectors.hpp"

#include <cmath>
#include <sstream>

#include "gradlab/error.hpp"

namespace gradlab {
namespace {

std::string scientific(double value) {
    std::ostringstream text;
    text.precision(3);
    text << value;
    return text.str();
}

/// Keeps the last `window + 1` values, the oldest first.
void remember(std::deque<double>& history, double value, std::int64_t window) {
    history.push_back(value);
    while (static_cast<std::int64_t>(history.size()) > window + 1) history.pop_front();
}

}  // namespace

Detectors::Detectors(DetectorsConfig config, std::vector<std::string> layerNames)
    : config_(config), layerNames_(std::move(layerNames)), saturatedFired_(layerNames_.size(), false) {}

bool Detectors::observe(const StepMeasurements& m, std::vector<Event>& fired) {
    bool stop = false;
    remember(gradNorms_, m.gradNorm, config_.explodingWindow);
    remember(losses_, m.loss, config_.stalledWindow);

    if (!explodingFired_ && std::isfinite(m.gradNorm)) {
        const double oldest = gradNorms_.front();
        const bool tooLarge = m.gradNorm > config_.explodingNorm;
        const bool growing = oldest > 0 && m.gradNorm / oldest > config_.explodingGrowth;
        if (tooLarge || growing) {
            explodingFired_ = true;
            stop = stop || config_.explodingStops;
            fired.push_back({m.step, schema::eventKind::exploding, "global", -1, m.gradNorm,
                             tooLarge ? "global gradient norm " + scientific(m.gradNorm) + " above " +
                                            scientific(config_.explodingNorm)
                                      : "global gradient norm grew " + scientific(m.gradNorm / oldest) + "x within " +
                                            std::to_string(gradNorms_.size() - 1) + " traced steps"});
        }
    }

    if (!vanishingFired_ && m.signalNorms && m.signalNorms->size() >= 2) {
        const double first = m.signalNorms->front(), last = m.signalNorms->back();
        const double ratio = last > 0 ? first / last : NAN;
        if (std::isfinite(ratio) && ratio < config_.vanishingRatio) {
            vanishingFired_ = true;
            stop = stop || config_.vanishingStops;
            fired.push_back({m.step, schema::eventKind::vanishing, layerNames_.front(), -1, ratio,
                             "the signal gradient at the first layer is " + scientific(ratio) +
                                 " times the one at the output"});
        }
    }
    if (!vanishingFired_ && m.timestepRatios)
        for (const auto& [layer, ratio] : *m.timestepRatios)
            if (std::isfinite(ratio) && ratio < config_.vanishingRatio) {
                vanishingFired_ = true;
                stop = stop || config_.vanishingStops;
                fired.push_back({m.step, schema::eventKind::vanishing, layerNames_[layer], 0, ratio,
                                 "||dL/dh_1|| is " + scientific(ratio) + " times ||dL/dh_T|| in " + layerNames_[layer]});
                break;
            }

    if (!stalledFired_) {
        const bool full = static_cast<std::int64_t>(losses_.size()) > config_.stalledWindow;
        const double oldest = losses_.front();
        const double change = std::abs(m.loss - oldest) / std::max(std::abs(oldest), 1e-300);
        const bool lossStalled = full && std::isfinite(change) && change < config_.stalledLossChange;
        const bool frozen = std::isfinite(m.updateRatio) && m.updateRatio < config_.stalledUpdateRatio;
        if (lossStalled || frozen) {
            stalledFired_ = true;
            stop = stop || config_.stalledStops;
            fired.push_back({m.step, schema::eventKind::stalled, "global", -1, lossStalled ? change : m.updateRatio,
                             lossStalled ? "the loss changed by " + scientific(change) + " (relative) over " +
                                               std::to_string(config_.stalledWindow) + " traced steps"
                                         : "updates are " + scientific(m.updateRatio) +
                                               " of the parameters' norm: the parameters no longer move"});
        }
    }

    if (m.saturation)
        for (std::size_t layer = 0; layer < m.saturation->size() && layer < saturatedFired_.size(); ++layer) {
            const double fraction = (*m.saturation)[layer];
            if (saturatedFired_[layer] || !std::isfinite(fraction) || fraction <= config_.saturatedFraction) continue;
            saturatedFired_[layer] = true;
            stop = stop || config_.saturatedStops;
            fired.push_back({m.step, schema::eventKind::saturated, layerNames_[layer], -1, fraction,
                             scientific(100 * fraction) + "% of the units of " + layerNames_[layer] +
                                 " are dead or saturated (max |f'| < " + scientific(config_.saturatedSlope) + ")"});
        }
    return stop;
}

DetectorsState Detectors::state() const {
    DetectorsState state;
    state.gradNorms.assign(gradNorms_.begin(), gradNorms_.end());
    state.losses.assign(losses_.begin(), losses_.end());
    state.explodingFired = explodingFired_;
    state.vanishingFired = vanishingFired_;
    state.stalledFired = stalledFired_;
    state.saturatedFired = saturatedFired_;
    return state;
}

void Detectors::restore(const DetectorsState& state) {
    if (state.saturatedFired.size() != layerNames_.size())
        throw Error("the checkpoint's detectors watched " + std::to_string(state.saturatedFired.size()) +
                    " layers, this model has " + std::to_string(layerNames_.size()));
    gradNorms_.assign(state.gradNorms.begin(), state.gradNorms.end());
    losses_.assign(state.losses.begin(), state.losses.end());
    explodingFired_ = state.explodingFired;
    vanishingFired_ = state.vanishingFired;
    stalledFired_ = state.stalledFired;
    saturatedFired_ = state.saturatedFired;
}

}  // namespace gradlab
