#include "analysis/diagnosis.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "gradlab/error.hpp"
#include "trace/trace_reader.hpp"

namespace gradlab::analysis {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr int barWidth = 40;
constexpr std::size_t sampledTimesteps = 20;

/// A number in scientific notation with `digits` significant digits, "nan", "inf" or "-inf".
std::string scientific(double value, int digits = 2) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*e", digits - 1, value);
    return buffer;
}

/// A number with `digits` significant digits in the shorter of fixed and scientific notation.
std::string general(double value, int digits = 4) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    return buffer;
}

std::string padded(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

/// The config's `name`, or "" when the text is not YAML or has no name.
std::string configName(const std::string& config) {
    try {
        const YAML::Node root = YAML::Load(config);
        if (root.IsMap() && root["name"] && root["name"].IsScalar()) return root["name"].as<std::string>();
    } catch (const std::exception&) {
    }
    return "";
}

std::string stringAttributeOr(const trace::TraceReader& reader, const std::string& name, const std::string& object,
                              const std::string& fallback) {
    if (!reader.hasAttribute(name, object)) return fallback;
    try {
        return reader.stringAttribute(name, object);
    } catch (const Error&) {
        return fallback;
    }
}

double doubleAttributeOr(const trace::TraceReader& reader, const std::string& name, const std::string& object) {
    if (!reader.hasAttribute(name, object)) return nan;
    try {
        return reader.doubleAttribute(name, object);
    } catch (const Error&) {
        return nan;
    }
}

double ratio(double numerator, double denominator) {
    if (!std::isfinite(numerator) || !std::isfinite(denominator) || denominator == 0.0) return nan;
    return numerator / denominator;
}

LayerProfile profileAt(const Eigen::MatrixXd& signal, Eigen::Index row, std::int64_t step) {
    LayerProfile profile;
    profile.step = step;
    for (Eigen::Index column = 0; column < signal.cols(); ++column) profile.norms.push_back(signal(row, column));
    if (!profile.norms.empty()) profile.firstOverLast = ratio(profile.norms.front(), profile.norms.back());
    return profile;
}

void readEvents(const trace::TraceReader& reader, Diagnosis& diagnosis) {
    diagnosis.eventsRecorded = reader.hasGroup("/events");
    if (!diagnosis.eventsRecorded || !reader.hasDataset("/events/kind")) return;
    const std::vector<std::string> kinds = reader.readStrings("/events/kind");
    const std::size_t count = kinds.size();
    // Columns other than kind are optional: a reader must not assume the set of columns.
    auto strings = [&](const char* name) {
        const std::string path = std::string("/events/") + name;
        std::vector<std::string> values = reader.hasDataset(path) ? reader.readStrings(path) : std::vector<std::string>{};
        values.resize(count);
        return values;
    };
    auto integers = [&](const char* name, std::int64_t fallback) {
        const std::string path = std::string("/events/") + name;
        std::vector<std::int64_t> values =
            reader.hasDataset(path) ? reader.readInt64Vector(path) : std::vector<std::int64_t>{};
        values.resize(count, fallback);
        return values;
    };
    const std::vector<std::string> wheres = strings("where"), messages = strings("message");
    const std::vector<std::int64_t> steps = integers("step", 0), timesteps = integers("timestep", -1);
    Eigen::VectorXd values = reader.hasDataset("/events/value") ? reader.readVector("/events/value") : Eigen::VectorXd();
    for (std::size_t index = 0; index < count; ++index) {
        TraceEvent event;
        event.step = steps[index];
        event.kind = kinds[index];
        event.where = wheres[index];
        event.timestep = timesteps[index];
        event.value = static_cast<Eigen::Index>(index) < values.size() ? values(static_cast<Eigen::Index>(index)) : nan;
        event.message = messages[index];
        diagnosis.events.push_back(event);
    }
}

void readTheory(const trace::TraceReader& reader, Diagnosis& diagnosis, const Eigen::MatrixXd& signal) {
    TheoryComparison& theory = diagnosis.theory;
    theory.present = reader.hasGroup("/theory");
    if (!theory.present) return;
    const std::string group = "/theory";
    theory.activation = stringAttributeOr(reader, "activation", group, "");
    theory.sigmaW2 = doubleAttributeOr(reader, "sigma_w2", group);
    theory.sigmaB2 = doubleAttributeOr(reader, "sigma_b2", group);
    theory.qStar = doubleAttributeOr(reader, "q_star", group);
    theory.chi1 = doubleAttributeOr(reader, "chi_1", group);
    theory.cStar = doubleAttributeOr(reader, "c_star", group);
    theory.chiC = doubleAttributeOr(reader, "chi_c", group);
    theory.depthScaleGradient = doubleAttributeOr(reader, "depth_scale_gradient", group);
    theory.depthScaleCorrelation = doubleAttributeOr(reader, "depth_scale_correlation", group);
    const double converged = doubleAttributeOr(reader, "converged", group);
    theory.converged = std::isfinite(converged) && converged != 0.0;
    theory.note = stringAttributeOr(reader, "note", group, "");

    // The measured factor at the first traced step, over consecutive dense layers.
    if (signal.rows() == 0) return;
    std::vector<std::size_t> dense;
    for (std::size_t layer = 0; layer < diagnosis.layerKinds.size() && layer < std::size_t(signal.cols()); ++layer)
        if (diagnosis.layerKinds[layer] == "dense") dense.push_back(layer);
    if (dense.size() < 2) return;
    std::size_t first = 0, last = dense.size() - 1;
    if (dense.size() >= 3) --last;       // the output layer: no activation after it
    if (dense.size() >= 4) ++first;      // the first hidden layer: still at the input's variance
    const double top = signal(0, Eigen::Index(dense[first])), bottom = signal(0, Eigen::Index(dense[last]));
    theory.measuredStep = diagnosis.firstStep;
    theory.measuredPairs = static_cast<int>(last - first);
    theory.measuredFrom = diagnosis.layerNames[dense[first]];
    theory.measuredTo = diagnosis.layerNames[dense[last]];
    const double squaredRatio = ratio(top * top, bottom * bottom);
    theory.measuredFactor = squaredRatio >= 0.0 ? std::pow(squaredRatio, 1.0 / theory.measuredPairs) : nan;
}

bool hasEvent(const Diagnosis& diagnosis, const std::string& kind, const TraceEvent** found) {
    for (const TraceEvent& event : diagnosis.events) {
        if (event.kind == kind) {
            *found = &event;
            return true;
        }
    }
    return false;
}

std::string describeEvent(const TraceEvent& event) {
    std::string text = event.kind + " event at step " + std::to_string(event.step);
    if (!event.where.empty()) text += " in " + event.where;
    if (event.timestep >= 0) text += " (timestep " + std::to_string(event.timestep) + ")";
    if (!event.message.empty()) text += ": " + event.message;
    return text;
}

void decideVerdict(Diagnosis& diagnosis) {
    const TraceEvent* event = nullptr;
    auto& evidence = diagnosis.evidence;
    // 1. diverged
    if (diagnosis.status == "diverged" || hasEvent(diagnosis, "non_finite", &event)) {
        diagnosis.verdict = Verdict::diverged;
        if (diagnosis.status == "diverged")
            evidence.push_back("status diverged" +
                               (diagnosis.statusMessage.empty() ? std::string() : ": " + diagnosis.statusMessage));
        if (hasEvent(diagnosis, "non_finite", &event)) evidence.push_back(describeEvent(*event));
        if (std::isfinite(diagnosis.lastFiniteLoss) && evidence.size() < 2)
            evidence.push_back("last finite loss " + general(diagnosis.lastFiniteLoss) + " at step " +
                               std::to_string(diagnosis.lastFiniteLossStep));
        return;
    }
    // 2. exploding
    const bool explodingEvent = hasEvent(diagnosis, "exploding", &event);
    if (explodingEvent || diagnosis.gradNormGrowth > explodingGrowth) {
        diagnosis.verdict = Verdict::exploding;
        if (explodingEvent) evidence.push_back(describeEvent(*event));
        if (std::isfinite(diagnosis.gradNormGrowth))
            evidence.push_back("grad norm " + scientific(diagnosis.firstGradNorm) + " -> " +
                               scientific(diagnosis.lastGradNorm) + " (x " + scientific(diagnosis.gradNormGrowth) +
                               (diagnosis.gradNormGrowth > explodingGrowth ? " > 1e3" : "") + ") over steps " +
                               std::to_string(diagnosis.firstStep) + " .. " + std::to_string(diagnosis.lastStep));
        return;
    }
    // 3. vanishing
    const bool vanishingEvent = hasEvent(diagnosis, "vanishing", &event);
    const double layerRatio = diagnosis.lastProfile.firstOverLast;
    const bool layersVanish = layerRatio < vanishingRatio;
    const TimestepProfile* recurrent = nullptr;
    for (const TimestepProfile& profile : diagnosis.timestepProfiles)
        if (profile.firstOverLast < vanishingRatio && (!recurrent || profile.firstOverLast < recurrent->firstOverLast))
            recurrent = &profile;
    if (vanishingEvent || layersVanish || recurrent) {
        diagnosis.verdict = Verdict::vanishing;
        if (vanishingEvent) evidence.push_back(describeEvent(*event));
        if (layersVanish && evidence.size() < 2)
            evidence.push_back("first/last layer signal gradient norm " + scientific(layerRatio) + " < 1e-4 at step " +
                               std::to_string(diagnosis.lastProfile.step) + " (" + diagnosis.layerNames.front() + " " +
                               scientific(diagnosis.lastProfile.norms.front()) + ", " + diagnosis.layerNames.back() +
                               " " + scientific(diagnosis.lastProfile.norms.back()) + ")");
        if (recurrent && evidence.size() < 2)
            evidence.push_back(recurrent->layer + ": ||dL/dh_1|| / ||dL/dh_T|| = " +
                               scientific(recurrent->firstOverLast) + " < 1e-4 over T = " +
                               std::to_string(recurrent->norms.size()) + " timesteps at step " +
                               std::to_string(recurrent->step));
        return;
    }
    // 4. stalled
    if (hasEvent(diagnosis, "stalled", &event)) {
        diagnosis.verdict = Verdict::stalled;
        evidence.push_back(describeEvent(*event));
        return;
    }
    // 5. healthy
    diagnosis.verdict = Verdict::healthy;
    std::string line = diagnosis.eventsRecorded ? "no detector fired" : "no /events recorded";
    if (std::isfinite(diagnosis.gradNormGrowth))
        line += "; grad norm " + scientific(diagnosis.firstGradNorm) + " -> " + scientific(diagnosis.lastGradNorm) +
                " (x " + scientific(diagnosis.gradNormGrowth) + ", limit 1e3)";
    evidence.push_back(line);
    if (std::isfinite(layerRatio))
        evidence.push_back("first/last layer signal gradient norm " + scientific(layerRatio) +
                           " at step " + std::to_string(diagnosis.lastProfile.step) + " (limit 1e-4)");
}

// ---------------------------------------------------------------------------------------------------------
// Text

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

std::string verdictName(Verdict verdict) {
    switch (verdict) {
        case Verdict::healthy: return "healthy";
        case Verdict::vanishing: return "vanishing";
        case Verdict::exploding: return "exploding";
        case Verdict::diverged: return "diverged";
        case Verdict::stalled: return "stalled";
    }
    return "unknown";
}

Diagnosis diagnose(const std::string& path) {
    const trace::TraceReader reader(path);
    Diagnosis diagnosis;
    diagnosis.file = path;
    diagnosis.status = stringAttributeOr(reader, "status", "/", "unknown");
    diagnosis.statusMessage = stringAttributeOr(reader, "status_message", "/", "");
    diagnosis.precision = stringAttributeOr(reader, "precision", "/", "");
    diagnosis.configName = configName(stringAttributeOr(reader, "config", "/", ""));
    if (reader.hasDataset("/meta/layer_names")) diagnosis.layerNames = reader.readStrings("/meta/layer_names");
    if (reader.hasDataset("/meta/layer_kinds")) diagnosis.layerKinds = reader.readStrings("/meta/layer_kinds");

    std::vector<std::int64_t> steps;
    if (reader.hasDataset("/trace/step")) steps = reader.readInt64Vector("/trace/step");
    diagnosis.tracedSteps = static_cast<std::int64_t>(steps.size());
    if (!steps.empty()) {
        diagnosis.firstStep = steps.front();
        diagnosis.lastStep = steps.back();
    }
    auto stepOf = [&](Eigen::Index row) { return row < Eigen::Index(steps.size()) ? steps[std::size_t(row)] : row; };

    if (reader.hasDataset("/trace/loss")) {
        const Eigen::VectorXd loss = reader.readVector("/trace/loss");
        if (loss.size() > 0) diagnosis.finalLoss = loss(loss.size() - 1);
        for (Eigen::Index row = loss.size() - 1; row >= 0; --row)
            if (std::isfinite(loss(row))) {
                diagnosis.lastFiniteLoss = loss(row);
                diagnosis.lastFiniteLossStep = stepOf(row);
                break;
            }
    }
    if (reader.hasDataset("/test/loss") && reader.hasDataset("/test/step")) {
        const Eigen::VectorXd loss = reader.readVector("/test/loss");
        const std::vector<std::int64_t> testSteps = reader.readInt64Vector("/test/step");
        if (loss.size() > 0 && testSteps.size() == static_cast<std::size_t>(loss.size())) {
            diagnosis.testStep = testSteps.back();
            diagnosis.testLoss = loss(loss.size() - 1);
            if (reader.hasDataset("/test/accuracy")) {
                const Eigen::VectorXd accuracy = reader.readVector("/test/accuracy");
                if (accuracy.size() == loss.size()) diagnosis.testAccuracy = accuracy(accuracy.size() - 1);
            }
        }
    }
    if (reader.hasDataset("/trace/grad_norm")) {
        const Eigen::VectorXd gradNorm = reader.readVector("/trace/grad_norm");
        for (Eigen::Index row = 0; row < gradNorm.size(); ++row)
            if (std::isfinite(gradNorm(row))) {
                diagnosis.firstGradNorm = gradNorm(row);
                break;
            }
        for (Eigen::Index row = gradNorm.size() - 1; row >= 0; --row)
            if (std::isfinite(gradNorm(row))) {
                diagnosis.lastGradNorm = gradNorm(row);
                break;
            }
        diagnosis.gradNormGrowth = ratio(diagnosis.lastGradNorm, diagnosis.firstGradNorm);
    }

    Eigen::MatrixXd signal;
    if (reader.hasDataset("/trace/signal_grad_norm")) signal = reader.readMatrix("/trace/signal_grad_norm");
    if (signal.rows() > 0 && signal.cols() > 0) {
        diagnosis.firstProfile = profileAt(signal, 0, stepOf(0));
        diagnosis.lastProfile = profileAt(signal, signal.rows() - 1, stepOf(signal.rows() - 1));
    }
    // Layer names for every column, even if /meta is shorter than the table (never expected).
    for (Eigen::Index column = Eigen::Index(diagnosis.layerNames.size()); column < signal.cols(); ++column)
        diagnosis.layerNames.push_back("layer " + std::to_string(column));

    const std::string timestepGroup = "/trace/timestep_grad_norm";
    if (reader.hasGroup(timestepGroup)) {
        for (const std::string& name : reader.listGroup(timestepGroup)) {
            const std::string datasetPath = timestepGroup + "/" + name;
            if (!reader.hasDataset(datasetPath)) continue;
            const Eigen::MatrixXd norms = reader.readMatrix(datasetPath);
            TimestepProfile profile;
            profile.layer = name;
            if (norms.rows() > 0) {
                profile.step = stepOf(norms.rows() - 1);
                for (Eigen::Index column = 0; column < norms.cols(); ++column)
                    profile.norms.push_back(norms(norms.rows() - 1, column));
                if (!profile.norms.empty()) profile.firstOverLast = ratio(profile.norms.front(), profile.norms.back());
            }
            diagnosis.timestepProfiles.push_back(profile);
        }
    }

    readEvents(reader, diagnosis);
    readTheory(reader, diagnosis, signal);
    decideVerdict(diagnosis);
    return diagnosis;
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
    if (theory.present) {
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

    out << "\nverdict: " << verdictName(diagnosis.verdict) << "\n";
    for (const std::string& line : diagnosis.evidence) out << "  " << line << "\n";
    return out.str();
}

// ---------------------------------------------------------------------------------------------------------
// JSON

namespace {

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
    out << "  \"test\": " << (diagnosis.testStep < 0 ? std::string("null")
                                                     : "{\"step\": " + std::to_string(diagnosis.testStep) +
                                                           ", \"loss\": " + jsonNumber(diagnosis.testLoss) +
                                                           ", \"accuracy\": " + jsonNumber(diagnosis.testAccuracy) + "}")
        << ",\n";
    out << "  \"grad_norm\": {\"first\": " << jsonNumber(diagnosis.firstGradNorm)
        << ", \"last\": " << jsonNumber(diagnosis.lastGradNorm)
        << ", \"growth\": " << jsonNumber(diagnosis.gradNormGrowth) << "},\n";
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
        out << "  \"theory\": {\"activation\": " << jsonString(theory.activation)
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
    out << "  \"verdict\": " << jsonString(verdictName(diagnosis.verdict)) << ",\n";
    out << "  \"evidence\": " << jsonStrings(diagnosis.evidence) << "\n";
    out << "}\n";
    return out.str();
}

}  // namespace gradlab::analysis
