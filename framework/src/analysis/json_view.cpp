#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "analysis/diagnosis.hpp"
#include "analysis/format.hpp"
#include "analysis/json.hpp"

namespace gradlab::analysis {

/// A JSON string literal; invalid UTF-8 bytes become U+FFFD.
std::string jsonString(const std::string& text) {
    std::string out = "\"";
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    for (std::size_t index = 0; index < size;) {
        const unsigned char byte = bytes[index];
        if (byte < 0x80) {
            switch (byte) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (byte < 0x20) {
                        char buffer[8];
                        std::snprintf(buffer, sizeof buffer, "\\u%04x", byte);
                        out += buffer;
                    } else {
                        out += static_cast<char>(byte);
                    }
            }
            ++index;
            continue;
        }
        // A multi-byte UTF-8 sequence: copy it if well formed.
        std::size_t length = byte >= 0xF0 && byte <= 0xF4 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC2 && byte < 0xE0 ? 2 : 0;
        bool valid = length > 0 && index + length <= size;
        for (std::size_t next = 1; valid && next < length; ++next) valid = (bytes[index + next] & 0xC0) == 0x80;
        if (valid && length == 3) {
            const unsigned second = bytes[index + 1];
            valid = !(byte == 0xE0 && second < 0xA0) && !(byte == 0xED && second >= 0xA0);  // overlong, surrogates
        }
        if (valid && length == 4) {
            const unsigned second = bytes[index + 1];
            valid = !(byte == 0xF0 && second < 0x90) && !(byte == 0xF4 && second >= 0x90);
        }
        if (valid) {
            out.append(text, index, length);
            index += length;
        } else {
            out += "\\ufffd";
            ++index;
        }
    }
    return out + "\"";
}

/// A JSON number that reads back to the same double, or null for NaN and infinities.
std::string jsonNumber(double value) {
    if (!std::isfinite(value)) return "null";
    char buffer[64];
    for (int digits = 15; digits <= 17; ++digits) {
        std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
        if (std::strtod(buffer, nullptr) == value) break;
    }
    return buffer;
}

namespace {

std::string jsonStrings(const std::vector<std::string>& values) {
    std::string out = "[";
    for (std::size_t index = 0; index < values.size(); ++index) out += (index ? ", " : "") + jsonString(values[index]);
    return out + "]";
}

std::string jsonNumbers(const std::vector<double>& values) {
    std::string out = "[";
    for (std::size_t index = 0; index < values.size(); ++index) out += (index ? ", " : "") + jsonNumber(values[index]);
    return out + "]";
}

std::string jsonStep(std::int64_t step) { return step >= 0 ? std::to_string(step) : "null"; }

std::string jsonProfile(const LayerProfile& profile) {
    if (profile.norms.empty()) return "null";
    return "{\"step\": " + std::to_string(profile.step) + ", \"norms\": " + jsonNumbers(profile.norms) +
           ", \"first_over_last\": " + jsonNumber(profile.firstOverLast) + "}";
}

}  // namespace

std::string formatJson(const Diagnosis& diagnosis) {
    std::ostringstream out;
    out << "{\n";
    out << "  \"file\": " << jsonString(diagnosis.file) << ",\n";
    out << "  \"config_name\": " << jsonString(diagnosis.configName) << ",\n";
    out << "  \"status\": " << jsonString(diagnosis.status) << ",\n";
    out << "  \"status_message\": " << jsonString(diagnosis.statusMessage) << ",\n";
    out << "  \"precision\": " << jsonString(diagnosis.precision) << ",\n";
    out << "  \"traced_steps\": " << diagnosis.tracedSteps << ",\n";
    out << "  \"first_step\": " << jsonStep(diagnosis.firstStep) << ",\n";
    out << "  \"last_step\": " << jsonStep(diagnosis.lastStep) << ",\n";
    out << "  \"final_loss\": " << jsonNumber(diagnosis.finalLoss) << ",\n";
    out << "  \"last_finite_loss\": " << jsonNumber(diagnosis.lastFiniteLoss) << ",\n";
    out << "  \"last_finite_loss_step\": " << jsonStep(diagnosis.lastFiniteLossStep) << ",\n";
    out << "  \"grad_norm\": {\"first\": " << jsonNumber(diagnosis.firstGradNorm)
        << ", \"last\": " << jsonNumber(diagnosis.lastGradNorm)
        << ", \"growth\": " << jsonNumber(diagnosis.gradNormGrowth) << "},\n";
    out << "  \"test\": " << (diagnosis.testStep < 0 ? std::string("null")
                                                     : "{\"step\": " + std::to_string(diagnosis.testStep) +
                                                           ", \"loss\": " + jsonNumber(diagnosis.testLoss) +
                                                           ", \"accuracy\": " + jsonNumber(diagnosis.testAccuracy) + "}")
        << ",\n";
    out << "  \"layer_names\": " << jsonStrings(diagnosis.layerNames) << ",\n";
    out << "  \"layer_kinds\": " << jsonStrings(diagnosis.layerKinds) << ",\n";
    out << "  \"signal_grad_norm\": {\"first\": " << jsonProfile(diagnosis.firstProfile)
        << ",\n                       \"last\": " << jsonProfile(diagnosis.lastProfile) << "},\n";
    out << "  \"timestep_grad_norm\": [";
    for (std::size_t index = 0; index < diagnosis.timestepProfiles.size(); ++index) {
        const TimestepProfile& profile = diagnosis.timestepProfiles[index];
        out << (index ? ",\n    " : "\n    ") << "{\"layer\": " << jsonString(profile.layer)
            << ", \"step\": " << profile.step << ", \"timesteps\": " << profile.norms.size()
            << ", \"norms\": " << jsonNumbers(profile.norms)
            << ", \"first_over_last\": " << jsonNumber(profile.firstOverLast) << "}";
    }
    out << (diagnosis.timestepProfiles.empty() ? "],\n" : "\n  ],\n");
    out << "  \"events_recorded\": " << (diagnosis.eventsRecorded ? "true" : "false") << ",\n";
    out << "  \"events\": [";
    for (std::size_t index = 0; index < diagnosis.events.size(); ++index) {
        const TraceEvent& event = diagnosis.events[index];
        out << (index ? ",\n    " : "\n    ") << "{\"step\": " << event.step << ", \"kind\": " << jsonString(event.kind)
            << ", \"where\": " << jsonString(event.where) << ", \"timestep\": " << event.timestep
            << ", \"value\": " << jsonNumber(event.value) << ", \"message\": " << jsonString(event.message) << "}";
    }
    out << (diagnosis.events.empty() ? "],\n" : "\n  ],\n");
    const TheoryComparison& theory = diagnosis.theory;
    if (!theory.present) {
        out << "  \"theory\": null,\n";
    } else {
        out << "  \"theory\": {\"applies\": " << (theory.applies ? "true" : "false")
            << ", \"activation\": " << jsonString(theory.activation)
            << ", \"sigma_w2\": " << jsonNumber(theory.sigmaW2) << ", \"sigma_b2\": " << jsonNumber(theory.sigmaB2)
            << ", \"q_star\": " << jsonNumber(theory.qStar) << ", \"chi_1\": " << jsonNumber(theory.chi1)
            << ", \"c_star\": " << jsonNumber(theory.cStar) << ", \"chi_c\": " << jsonNumber(theory.chiC)
            << ",\n             \"depth_scale_gradient\": " << jsonNumber(theory.depthScaleGradient)
            << ", \"depth_scale_correlation\": " << jsonNumber(theory.depthScaleCorrelation)
            << ", \"converged\": " << (theory.converged ? "true" : "false")
            << ", \"note\": " << jsonString(theory.note) << ",\n             \"measured\": ";
        if (theory.measuredPairs > 0)
            out << "{\"step\": " << theory.measuredStep << ", \"factor\": " << jsonNumber(theory.measuredFactor)
                << ", \"pairs\": " << theory.measuredPairs << ", \"from\": " << jsonString(theory.measuredFrom)
                << ", \"to\": " << jsonString(theory.measuredTo)
                << ", \"factor_over_chi_1\": " << jsonNumber(ratio(theory.measuredFactor, theory.chi1)) << "}";
        else
            out << "null";
        out << "},\n";
    }
    out << "  \"probes\": [";
    for (std::size_t index = 0; index < diagnosis.probes.size(); ++index) {
        const ProbeSummary& probe = diagnosis.probes[index];
        out << (index ? ",\n    " : "\n    ") << "{\"name\": " << jsonString(probe.name) << ", \"rows\": " << probe.rows
            << ", \"first_step\": " << probe.firstStep << ", \"last_step\": " << probe.lastStep << ", \"tables\": [";
        for (std::size_t table = 0; table < probe.tables.size(); ++table)
            out << (table ? ", " : "") << jsonString(probe.tables[table]);
        out << "], \"measured_mean_sq\": " << jsonNumber(probe.measuredMeanSq)
            << ", \"measured_normalised_var_sq\": " << jsonNumber(probe.measuredNormalisedVarSq)
            << ", \"theory\": ";
        if (probe.theoryPresent)
            out << "{\"applies\": " << (probe.theoryApplies ? "true" : "false") << ", \"weights\": "
                << jsonString(probe.theoryWeights) << ", \"mean_sq\": " << jsonNumber(probe.predictedMeanSq)
                << ", \"normalised_var_sq\": " << jsonNumber(probe.predictedNormalisedVarSq)
                << ", \"note\": " << jsonString(probe.theoryNote) << "}";
        else
            out << "null";
        out << "}";
    }
    out << (diagnosis.probes.empty() ? "],\n" : "\n  ],\n");
    const RunMetrics& metrics = diagnosis.metrics;
    out << "  \"metrics\": {\"final_train_loss\": " << jsonNumber(metrics.finalTrainLoss)
        << ", \"final_eval_loss\": " << jsonNumber(metrics.finalEvalLoss)
        << ", \"best_eval_loss\": " << jsonNumber(metrics.bestEvalLoss)
        << ", \"final_eval_accuracy\": " << jsonNumber(metrics.finalEvalAccuracy)
        << ", \"test_accuracy\": " << jsonNumber(metrics.testAccuracy)
        << ",\n              \"signal_ratio_init\": " << jsonNumber(metrics.signalRatioInit)
        << ", \"signal_ratio_final\": " << jsonNumber(metrics.signalRatioFinal)
        << ", \"timestep_ratio_init\": " << jsonNumber(metrics.timestepRatioInit)
        << ", \"timestep_ratio_final\": " << jsonNumber(metrics.timestepRatioFinal)
        << ", \"diverged_at\": " << metrics.divergedAt << "},\n";
    out << "  \"verdict\": " << jsonString(verdictName(diagnosis.verdict)) << ",\n";
    out << "  \"evidence\": " << jsonStrings(diagnosis.evidence) << "\n";
    out << "}\n";
    return out.str();
}

}  // namespace gradlab::analysis
