#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "analysis/diagnosis.hpp"
#include "analysis/format.hpp"

namespace gradlab::analysis {

namespace {

constexpr int barWidth = 40;
constexpr std::size_t sampledTimesteps = 20;

std::string padded(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

/// Log10 range [low, high] (whole decades) covering the positive finite values.
struct LogScale {
    double low = 0.0, high = 1.0;

    explicit LogScale(const std::vector<double>& values) {
        double smallest = std::numeric_limits<double>::infinity(), largest = 0.0;
        for (double value : values)
            if (std::isfinite(value) && value > 0.0) {
                smallest = std::min(smallest, value);
                largest = std::max(largest, value);
            }
        if (largest == 0.0) return;
        low = std::floor(std::log10(smallest));
        high = std::ceil(std::log10(largest));
        if (high <= low) high = low + 1.0;
    }

    std::string bar(double value) const {
        int length = 0;
        if (std::isfinite(value) && value > 0.0) {
            length = static_cast<int>(std::lround(barWidth * (std::log10(value) - low) / (high - low)));
            length = std::clamp(length, 1, barWidth);
        } else if (std::isinf(value) && value > 0.0) {
            length = barWidth;
        }
        return "|" + std::string(std::size_t(length), '#') + std::string(std::size_t(barWidth - length), ' ') + "|";
    }

    std::string legend() const {
        return "log10 bars from 1e" + std::to_string(static_cast<int>(low)) + " to 1e" +
               std::to_string(static_cast<int>(high));
    }
};

/// Up to sampledTimesteps indices spread evenly over [0, count), always the first and the last.
std::vector<std::size_t> sampleIndices(std::size_t count) {
    std::vector<std::size_t> indices;
    if (count <= sampledTimesteps + 4) {
        for (std::size_t index = 0; index < count; ++index) indices.push_back(index);
        return indices;
    }
    for (std::size_t sample = 0; sample < sampledTimesteps; ++sample) {
        const std::size_t index = static_cast<std::size_t>(
            std::llround(double(sample) * double(count - 1) / double(sampledTimesteps - 1)));
        if (indices.empty() || indices.back() != index) indices.push_back(index);
    }
    return indices;
}

}  // namespace

std::string formatMetrics(const RunMetrics& metrics) {
    std::vector<std::string> parts;
    if (std::isfinite(metrics.finalEvalLoss) || std::isfinite(metrics.bestEvalLoss))
        parts.push_back("eval loss " + general(metrics.finalEvalLoss, 3) + " (best " + general(metrics.bestEvalLoss, 3) +
                        ")");
    if (std::isfinite(metrics.finalEvalAccuracy)) parts.push_back("eval accuracy " + general(metrics.finalEvalAccuracy, 3));
    if (std::isfinite(metrics.testAccuracy)) parts.push_back("test accuracy " + general(metrics.testAccuracy, 4));
    if (!std::isnan(metrics.signalRatioInit) || !std::isnan(metrics.signalRatioFinal))
        parts.push_back("signal ratio " + scientific(metrics.signalRatioInit) + " -> " +
                        scientific(metrics.signalRatioFinal));
    if (!std::isnan(metrics.timestepRatioInit) || !std::isnan(metrics.timestepRatioFinal))
        parts.push_back("timestep ratio " + scientific(metrics.timestepRatioInit) + " -> " +
                        scientific(metrics.timestepRatioFinal));
    if (metrics.divergedAt >= 0) parts.push_back("diverged at step " + std::to_string(metrics.divergedAt));
    std::string line;
    for (std::size_t index = 0; index < parts.size(); ++index) line += (index ? ", " : "") + parts[index];
    return line;
}

std::string formatText(const Diagnosis& diagnosis) {
    std::ostringstream out;
    out << "gradlab trace " << diagnosis.file << "\n";
    out << "  config      " << (diagnosis.configName.empty() ? "(unnamed)" : diagnosis.configName) << "\n";
    out << "  status      " << diagnosis.status;
    if (!diagnosis.statusMessage.empty()) out << " (" << diagnosis.statusMessage << ")";
    out << "\n  precision   " << diagnosis.precision << "\n";
    if (diagnosis.tracedSteps > 0)
        out << "  steps       " << diagnosis.tracedSteps << " traced, " << diagnosis.firstStep << " .. "
            << diagnosis.lastStep << "\n";
    else
        out << "  steps       none traced\n";
    out << "  final loss  " << general(diagnosis.finalLoss);
    if (!std::isfinite(diagnosis.finalLoss) && std::isfinite(diagnosis.lastFiniteLoss))
        out << " (last finite " << general(diagnosis.lastFiniteLoss) << " at step " << diagnosis.lastFiniteLossStep
            << ")";
    out << "\n";
    if (diagnosis.testStep >= 0)
        out << "  test        loss " << general(diagnosis.testLoss) << ", accuracy " << general(diagnosis.testAccuracy)
            << " at step " << diagnosis.testStep << " (the official test split, /test)\n";
    if (std::isfinite(diagnosis.firstGradNorm))
        out << "  grad norm   " << scientific(diagnosis.firstGradNorm) << " -> " << scientific(diagnosis.lastGradNorm)
            << " (x " << scientific(diagnosis.gradNormGrowth) << ")\n";
    const std::string metrics = formatMetrics(diagnosis.metrics);
    if (!metrics.empty())
        out << "  metrics     " << metrics << " (ratios: first over last, at steps " << diagnosis.firstStep << " and "
            << diagnosis.lastStep << ")\n";

    // Events.
    out << "\n";
    if (!diagnosis.eventsRecorded) {
        out << "events: none recorded (no /events table)\n";
    } else if (diagnosis.events.empty()) {
        out << "events: none\n";
    } else {
        out << "events (" << diagnosis.events.size() << "):\n";
        std::size_t kindWidth = 4, whereWidth = 5;
        for (const TraceEvent& event : diagnosis.events) {
            kindWidth = std::max(kindWidth, event.kind.size());
            whereWidth = std::max(whereWidth, event.where.size());
        }
        out << "  " << padded("step", 8) << padded("kind", kindWidth + 2) << padded("where", whereWidth + 2)
            << padded("timestep", 10) << padded("value", 10) << "message\n";
        for (const TraceEvent& event : diagnosis.events)
            out << "  " << padded(std::to_string(event.step), 8) << padded(event.kind, kindWidth + 2)
                << padded(event.where, whereWidth + 2)
                << padded(event.timestep >= 0 ? std::to_string(event.timestep) : "-", 10)
                << padded(scientific(event.value), 10) << event.message << "\n";
    }

    // Per-layer profiles.
    if (!diagnosis.lastProfile.norms.empty()) {
        std::vector<double> all = diagnosis.firstProfile.norms;
        all.insert(all.end(), diagnosis.lastProfile.norms.begin(), diagnosis.lastProfile.norms.end());
        const LogScale scale(all);
        std::size_t nameWidth = 5;
        for (const std::string& name : diagnosis.layerNames) nameWidth = std::max(nameWidth, name.size());
        out << "\nsignal gradient norm ||dLoss/d output|| per layer (" << scale.legend() << ")\n";
        std::vector<const LayerProfile*> profiles{&diagnosis.firstProfile};
        if (diagnosis.tracedSteps > 1) profiles.push_back(&diagnosis.lastProfile);
        for (const LayerProfile* profile : profiles) {
            out << "  step " << profile->step << "\n";
            for (std::size_t layer = 0; layer < profile->norms.size(); ++layer)
                out << "    " << padded(diagnosis.layerNames[layer], nameWidth + 2)
                    << padded(scientific(profile->norms[layer]), 9) << " " << scale.bar(profile->norms[layer]) << "\n";
            out << "    first/last layer: " << scientific(profile->firstOverLast) << "\n";
        }
    } else {
        out << "\nsignal gradient norm: not traced\n";
    }

    // Per-timestep profiles.
    for (const TimestepProfile& profile : diagnosis.timestepProfiles) {
        const std::size_t count = profile.norms.size();
        const LogScale scale(profile.norms);
        const std::vector<std::size_t> indices = sampleIndices(count);
        out << "\n" << profile.layer << ": ||dL/dh_t|| per timestep at step " << profile.step << " (T = " << count;
        if (indices.size() < count) out << ", " << indices.size() << " sampled";
        out << "; " << scale.legend() << ")\n";
        const std::size_t labelWidth = std::to_string(count).size() + 4;
        for (std::size_t index : indices)
            out << "    " << padded("t=" + std::to_string(index + 1), labelWidth)
                << padded(scientific(profile.norms[index]), 9) << " " << scale.bar(profile.norms[index]) << "\n";
        out << "    ||dL/dh_1|| / ||dL/dh_T|| = " << scientific(profile.firstOverLast) << "\n";
    }

    // Theory.
    const TheoryComparison& theory = diagnosis.theory;
    if (!theory.present) {
        out << "\ntheory: none in this trace (no /theory group: written by a gradlab without it)\n";
    } else if (!theory.applies) {
        out << "\ntheory (/theory): " << (theory.note.empty() ? std::string("does not apply") : theory.note) << "\n";
    } else {
        out << "\ntheory (mean field at initialisation, /theory): "
            << (theory.activation.empty() ? std::string("activation ?") : theory.activation)
            << ", sigma_w^2 = " << general(theory.sigmaW2) << ", sigma_b^2 = " << general(theory.sigmaB2)
            << (theory.converged ? "" : ", not converged") << "\n";
        if (!theory.note.empty()) out << "  note: " << theory.note << "\n";
        out << "  predicted  q* = " << general(theory.qStar) << ", chi_1 = " << general(theory.chi1)
            << " (xi_grad = " << general(theory.depthScaleGradient) << " layers), c* = " << general(theory.cStar)
            << ", chi_c = " << general(theory.chiC) << " (xi_c = " << general(theory.depthScaleCorrelation)
            << " layers)\n";
        if (theory.measuredPairs > 0)
            out << "  measured   per-layer factor of ||dL/dh||^2 at step " << theory.measuredStep << ": "
                << general(theory.measuredFactor) << " (geometric mean over " << theory.measuredPairs
                << " dense-layer pairs, " << theory.measuredFrom << " .. " << theory.measuredTo
                << "); measured/chi_1 = " << general(ratio(theory.measuredFactor, theory.chi1), 3) << "\n";
        else
            out << "  measured   no per-layer factor: fewer than 2 dense layers traced\n";
    }

    // Probes.
    for (const ProbeSummary& probe : diagnosis.probes) {
        out << "\nprobe " << probe.name << " (/probes/" << probe.name << "): " << probe.rows << " probe steps";
        if (probe.rows > 0) out << ", " << probe.firstStep << " .. " << probe.lastStep;
        out << "\n  tables     ";
        for (std::size_t index = 0; index < probe.tables.size(); ++index)
            out << (index ? ", " : "") << probe.tables[index];
        out << (probe.tables.empty() ? "none\n" : "\n");
        if (std::isfinite(probe.measuredMeanSq))
            out << "  measured   at step " << probe.firstStep << ": mean of sigma^2 = " << general(probe.measuredMeanSq)
                << ", var(sigma^2) / mean^2 = " << general(probe.measuredNormalisedVarSq)
                << " (means over the examples)\n";
        if (probe.theoryPresent && probe.theoryApplies)
            out << "  predicted  (free probability, " << probe.theoryWeights << " weights): mean of sigma^2 = "
                << general(probe.predictedMeanSq) << ", var(sigma^2) / mean^2 = "
                << general(probe.predictedNormalisedVarSq) << "; measured/predicted = "
                << general(ratio(probe.measuredMeanSq, probe.predictedMeanSq), 3) << " and "
                << general(ratio(probe.measuredNormalisedVarSq, probe.predictedNormalisedVarSq), 3) << "\n";
        if (probe.theoryPresent && !probe.theoryNote.empty()) out << "  theory     " << probe.theoryNote << "\n";
    }

    out << "\nverdict: " << verdictName(diagnosis.verdict) << "\n";
    for (const std::string& line : diagnosis.evidence) out << "  " << line << "\n";
    return out.str();
}

}  // namespace gradlab::analysis
