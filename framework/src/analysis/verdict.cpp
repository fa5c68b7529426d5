#include "analysis/verdict.hpp"

#include <sstream>

#include "analysis/diagnosis.hpp"
#include "analysis/format.hpp"

namespace gradlab::analysis {

namespace {

/// The first event of `kind`, or nullptr.
const TraceEvent* firstEvent(const Diagnosis& diagnosis, const std::string& kind) {
    for (const TraceEvent& event : diagnosis.events)
        if (event.kind == kind) return &event;
    return nullptr;
}

std::size_t countEvents(const Diagnosis& diagnosis, const std::string& kind) {
    std::size_t count = 0;
    for (const TraceEvent& event : diagnosis.events) count += event.kind == kind ? 1 : 0;
    return count;
}

std::string describeEvent(const TraceEvent& event) {
    std::string text = event.kind + " event at step " + std::to_string(event.step);
    if (!event.where.empty()) text += " in " + event.where;
    if (event.timestep >= 0) text += " (timestep " + std::to_string(event.timestep) + ")";
    if (!event.message.empty()) text += ": " + event.message;
    return text;
}

/// The verdict and its main evidence, by the rules of verdict.hpp.
Verdict decide(const Diagnosis& diagnosis, std::vector<std::string>& evidence) {
    const bool diverged = diagnosis.runStatus() == RunStatus::diverged;
    if (diagnosis.tracedSteps == 0 && diagnosis.events.empty() && !diverged) {
        evidence.push_back("nothing traced: no /trace rows and no /events");
        return Verdict::unknown;
    }
    // 1. diverged
    const TraceEvent* nonFinite = firstEvent(diagnosis, schema::eventKind::nonFinite);
    if (diverged || nonFinite) {
        if (diverged)
            evidence.push_back("status diverged" +
                               (diagnosis.statusMessage.empty() ? std::string() : ": " + diagnosis.statusMessage));
        if (nonFinite) evidence.push_back(describeEvent(*nonFinite));
        if (std::isfinite(diagnosis.lastFiniteLoss) && evidence.size() < 2)
            evidence.push_back("last finite loss " + general(diagnosis.lastFiniteLoss) + " at step " +
                               std::to_string(diagnosis.lastFiniteLossStep));
        return Verdict::diverged;
    }
    // 2. exploding
    const TraceEvent* exploding = firstEvent(diagnosis, schema::eventKind::exploding);
    const std::string growthLimit = threshold(explodingGrowth);
    if (exploding || diagnosis.gradNormGrowth > explodingGrowth) {
        if (exploding) evidence.push_back(describeEvent(*exploding));
        if (std::isfinite(diagnosis.gradNormGrowth))
            evidence.push_back("grad norm " + scientific(diagnosis.firstGradNorm) + " -> " +
                               scientific(diagnosis.lastGradNorm) + " (x " + scientific(diagnosis.gradNormGrowth) +
                               (diagnosis.gradNormGrowth > explodingGrowth ? " > " : ", limit ") + growthLimit +
                               ") over steps " + std::to_string(diagnosis.firstStep) + " .. " +
                               std::to_string(diagnosis.lastStep));
        return Verdict::exploding;
    }
    // 3. vanishing
    const TraceEvent* vanishing = firstEvent(diagnosis, schema::eventKind::vanishing);
    const std::string ratioLimit = threshold(vanishingRatio);
    const double layerRatio = diagnosis.lastProfile.firstOverLast;
    const bool layersVanish = layerRatio < vanishingRatio;
    const TimestepProfile* recurrent = nullptr;
    for (const TimestepProfile& profile : diagnosis.timestepProfiles)
        if (profile.firstOverLast < vanishingRatio && (!recurrent || profile.firstOverLast < recurrent->firstOverLast))
            recurrent = &profile;
    if (vanishing || layersVanish || recurrent) {
        if (vanishing) evidence.push_back(describeEvent(*vanishing));
        if (layersVanish && evidence.size() < 2)
            evidence.push_back("first/last layer signal gradient norm " + scientific(layerRatio) + " < " + ratioLimit +
                               " at step " + std::to_string(diagnosis.lastProfile.step) + " (" +
                               diagnosis.layerNames.front() + " " + scientific(diagnosis.lastProfile.norms.front()) +
                               ", " + diagnosis.layerNames.back() + " " +
                               scientific(diagnosis.lastProfile.norms.back()) + ")");
        if (recurrent && evidence.size() < 2)
            evidence.push_back(recurrent->layer + ": ||dL/dh_1|| / ||dL/dh_T|| = " +
                               scientific(recurrent->firstOverLast) + " < " + ratioLimit + " over T = " +
                               std::to_string(recurrent->norms.size()) + " timesteps at step " +
                               std::to_string(recurrent->step));
        return Verdict::vanishing;
    }
    // 4. stalled
    if (const TraceEvent* stalled = firstEvent(diagnosis, schema::eventKind::stalled)) {
        evidence.push_back(describeEvent(*stalled));
        return Verdict::stalled;
    }
    // 5. saturated
    if (const TraceEvent* saturated = firstEvent(diagnosis, schema::eventKind::saturated)) {
        const std::size_t layers = countEvents(diagnosis, schema::eventKind::saturated);
        evidence.push_back(std::to_string(layers) + " layer" + (layers == 1 ? "" : "s") +
                           " with dead or saturated units; the first: " + describeEvent(*saturated));
        return Verdict::saturated;
    }
    // 6. healthy
    std::string line;
    if (!diagnosis.eventsRecorded)
        line = "no /events recorded";
    else if (diagnosis.events.empty())
        line = "no detector fired";
    else
        line = std::to_string(diagnosis.events.size()) + " event(s) of kinds this gradlab does not rank (first: " +
               diagnosis.events.front().kind + ")";
    if (std::isfinite(diagnosis.gradNormGrowth))
        line += "; grad norm " + scientific(diagnosis.firstGradNorm) + " -> " + scientific(diagnosis.lastGradNorm) +
                " (x " + scientific(diagnosis.gradNormGrowth) + ", limit " + growthLimit + ")";
    evidence.push_back(line);
    if (std::isfinite(layerRatio))
        evidence.push_back("first/last layer signal gradient norm " + scientific(layerRatio) + " at step " +
                           std::to_string(diagnosis.lastProfile.step) + " (limit " + ratioLimit + ")");
    return Verdict::healthy;
}

}  // namespace

std::string verdictName(Verdict verdict) {
    switch (verdict) {
        case Verdict::unknown: return "unknown";
        case Verdict::healthy: return "healthy";
        case Verdict::saturated: return "saturated";
        case Verdict::stalled: return "stalled";
        case Verdict::vanishing: return "vanishing";
        case Verdict::exploding: return "exploding";
        case Verdict::diverged: return "diverged";
    }
    return "unknown";
}

std::string verdictRule(Verdict verdict) {
    switch (verdict) {
        case Verdict::unknown: return "nothing was traced (no /trace rows and no /events)";
        case Verdict::diverged: return "status is 'diverged', or /events holds a non_finite event";
        case Verdict::exploding:
            return "an exploding event, or /trace/grad_norm grows by more than " + threshold(explodingGrowth) +
                   " over the run (last finite value / first finite value)";
        case Verdict::vanishing:
            return "a vanishing event, or at the last traced step the first layer's signal gradient norm over the "
                   "last layer's is below " + threshold(vanishingRatio) +
                   ", or a recurrent layer's ‖dL/dh_1‖ / ‖dL/dh_T‖ is below " + threshold(vanishingRatio);
        case Verdict::stalled: return "a stalled event";
        case Verdict::saturated: return "a saturated event (dead or saturated units)";
        case Verdict::healthy: return "none of the above";
    }
    return "";
}

std::string verdictRules() {
    std::ostringstream text;
    text << "verdict, the first rule that applies (a run that did not finish gets the verdict of what it traced):\n";
    for (Verdict verdict : allVerdicts) {
        const std::string name = verdictName(verdict);
        text << "  " << name << std::string(name.size() < 11 ? 11 - name.size() : 1, ' ') << verdictRule(verdict)
             << "\n";
    }
    return text.str();
}

void decideVerdict(Diagnosis& diagnosis) {
    diagnosis.evidence.clear();
    diagnosis.verdict = decide(diagnosis, diagnosis.evidence);
    if (diagnosis.verdict != Verdict::unknown && !isFinishedStatus(diagnosis.runStatus()))
        diagnosis.evidence.push_back("the run did not finish (status " + diagnosis.status + "): the verdict covers " +
                                     "the traced steps " + std::to_string(diagnosis.firstStep) + " .. " +
                                     std::to_string(diagnosis.lastStep));
}

}  // namespace gradlab::analysis
