#include "analysis/diagnosis.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "gradlab/error.hpp"
#include "gradlab/probe_schema.hpp"
#include "analysis/format.hpp"
#include "analysis/verdict.hpp"
#include "trace/trace_reader.hpp"

namespace gradlab::analysis {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// The config's `name`, or "" when the text is not YAML or has no name.
std::string configName(const std::string& config) {
    // A trace's config is gradlab's resolved YAML, a block map whose keys start lines at column 0: its one top-level
    // `name:` line is read alone (parsing the whole text was a fifth of diagnosing a small trace). Any other text,
    // or a line that does not read as {name: scalar}, is parsed whole.
    const bool blockMap = !config.empty() && config.front() != '{' && config.front() != '-' &&
                          config.front() != '%' && config.front() != ' ';
    std::size_t found = std::string::npos;
    for (std::size_t at = 0; blockMap && at < config.size();) {
        if (config.compare(at, 5, "name:") == 0) {
            if (found != std::string::npos) {  // two: not a plain map (a second document?): parse it whole
                found = std::string::npos;
                break;
            }
            found = at;
        }
        const std::size_t end = config.find('\n', at);
        at = end == std::string::npos ? config.size() : end + 1;
    }
    const std::size_t end = found == std::string::npos ? found : config.find('\n', found);
    const bool continued = end != std::string::npos && end + 1 < config.size() &&
                           (config[end + 1] == ' ' || config[end + 1] == '\t');  // a value on the next lines too
    if (found != std::string::npos && !continued) {
        try {
            const YAML::Node line = YAML::Load(config.substr(found, end == std::string::npos ? end : end - found));
            if (line.IsMap() && line.size() == 1 && line["name"].IsScalar()) return line["name"].as<std::string>();
        } catch (const std::exception&) {
        }
    }
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

LayerProfile profileAt(const Eigen::MatrixXd& signal, Eigen::Index row, std::int64_t step) {
    LayerProfile profile;
    profile.step = step;
    for (Eigen::Index column = 0; column < signal.cols(); ++column) profile.norms.push_back(signal(row, column));
    if (!profile.norms.empty()) profile.firstOverLast = ratio(profile.norms.front(), profile.norms.back());
    return profile;
}

void readEvents(const trace::TraceReader& reader, Diagnosis& diagnosis) {
    namespace column = schema::eventColumn;
    const std::string group = schema::events;
    auto path = [&](const char* name) { return group + "/" + name; };
    diagnosis.eventsRecorded = reader.hasGroup(group);
    if (!diagnosis.eventsRecorded || !reader.hasDataset(path(column::kind))) return;
    const std::vector<std::string> kinds = reader.readStrings(path(column::kind));
    const std::size_t count = kinds.size();
    // Columns other than kind are optional: a reader must not assume the set of columns.
    auto strings = [&](const char* name) {
        std::vector<std::string> values =
            reader.hasDataset(path(name)) ? reader.readStrings(path(name)) : std::vector<std::string>{};
        values.resize(count);
        return values;
    };
    auto integers = [&](const char* name, std::int64_t fallback) {
        std::vector<std::int64_t> values =
            reader.hasDataset(path(name)) ? reader.readInt64Vector(path(name)) : std::vector<std::int64_t>{};
        values.resize(count, fallback);
        return values;
    };
    const std::vector<std::string> wheres = strings(column::where), messages = strings(column::message);
    const std::vector<std::int64_t> steps = integers(column::step, 0), timesteps = integers(column::timestep, -1);
    Eigen::VectorXd values =
        reader.hasDataset(path(column::value)) ? reader.readVector(path(column::value)) : Eigen::VectorXd();
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
    const double applies = doubleAttributeOr(reader, "applies", group);
    theory.applies = !(applies == 0.0);
    if (!theory.applies) return;

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

/// Every probe's tables, and jacobian_spectrum's first spectrum beside its theory (/probes).
void readProbes(const trace::TraceReader& reader, Diagnosis& diagnosis) {
    namespace js = probeSchema::jacobianSpectrum;
    if (!reader.hasGroup(probeSchema::group)) return;
    for (const std::string& name : reader.listGroup(probeSchema::group)) {
        const std::string group = std::string(probeSchema::group) + "/" + name;
        if (!reader.hasGroup(group)) continue;
        ProbeSummary probe;
        probe.name = name;
        const std::string stepPath = group + "/" + probeSchema::stepColumn;
        if (reader.hasDataset(stepPath)) {
            const std::vector<std::int64_t> steps = reader.readInt64Vector(stepPath);
            probe.rows = static_cast<std::int64_t>(steps.size());
            if (!steps.empty()) {
                probe.firstStep = steps.front();
                probe.lastStep = steps.back();
            }
        }
        // The tables, recursively (subgroups such as from/<layer>), without the step columns.
        std::vector<std::string> pending{""};
        while (!pending.empty()) {
            const std::string relative = pending.back();
            pending.pop_back();
            const std::string path = relative.empty() ? group : group + "/" + relative;
            const std::vector<std::string> members = reader.listGroup(path);
            for (auto member = members.rbegin(); member != members.rend(); ++member) {
                const std::string child = relative.empty() ? *member : relative + "/" + *member;
                if (reader.hasGroup(group + "/" + child)) {
                    pending.push_back(child);
                } else if (*member != probeSchema::stepColumn) {
                    std::string shape = "[S";
                    const std::vector<hsize_t> extents = reader.datasetShape(group + "/" + child);
                    for (std::size_t axis = 1; axis < extents.size(); ++axis) shape += " x " + std::to_string(extents[axis]);
                    probe.tables.push_back(child + " " + shape + "]");
                }
            }
        }
        const std::string meanSq = group + "/" + js::meanSq, varSq = group + "/" + js::varSq;
        if (probe.rows > 0 && reader.hasDataset(meanSq) && reader.hasDataset(varSq)) {
            const Eigen::MatrixXd means = reader.readMatrix(meanSq), variances = reader.readMatrix(varSq);
            if (means.rows() > 0 && means.cols() == variances.cols()) {
                probe.measuredMeanSq = means.row(0).mean();
                probe.measuredNormalisedVarSq = (variances.row(0).array() / means.row(0).array().square()).mean();
            }
        }
        const std::string theory = group + "/" + probeSchema::theoryGroup;
        probe.theoryPresent = reader.hasGroup(theory);
        if (probe.theoryPresent) {
            probe.theoryApplies = doubleAttributeOr(reader, js::theory::applies, theory) == 1.0;
            probe.theoryNote = stringAttributeOr(reader, js::theory::note, theory, "");
            probe.theoryWeights = stringAttributeOr(reader, js::theory::weights, theory, "");
            probe.predictedMeanSq = doubleAttributeOr(reader, js::theory::meanSq, theory);
            probe.predictedNormalisedVarSq = doubleAttributeOr(reader, js::theory::normalisedVarSq, theory);
        }
        diagnosis.probes.push_back(std::move(probe));
    }
}

/// The headline numbers, from what diagnose() read and from /eval.
void readMetrics(const trace::TraceReader& reader, Diagnosis& diagnosis) {
    RunMetrics& metrics = diagnosis.metrics;
    metrics.finalTrainLoss = diagnosis.finalLoss;
    metrics.testAccuracy = diagnosis.testAccuracy;
    metrics.signalRatioInit = diagnosis.firstProfile.firstOverLast;
    metrics.signalRatioFinal = diagnosis.lastProfile.firstOverLast;
    // The recurrent layer closest to the input: the first of /meta/layer_names with a per-timestep profile.
    const TimestepProfile* first = nullptr;
    std::size_t firstIndex = diagnosis.layerNames.size();
    for (const TimestepProfile& profile : diagnosis.timestepProfiles) {
        const auto at = std::find(diagnosis.layerNames.begin(), diagnosis.layerNames.end(), profile.layer);
        const std::size_t index = static_cast<std::size_t>(at - diagnosis.layerNames.begin());
        if (first == nullptr || index < firstIndex) {
            first = &profile;
            firstIndex = index;
        }
    }
    if (first != nullptr) {
        metrics.timestepRatioInit = first->firstOverLastInit;
        metrics.timestepRatioFinal = first->firstOverLast;
    }
    if (reader.hasDataset("/eval/loss")) {
        const Eigen::VectorXd loss = reader.readVector("/eval/loss");
        if (loss.size() > 0) metrics.finalEvalLoss = loss(loss.size() - 1);
        for (Eigen::Index row = 0; row < loss.size(); ++row)
            if (std::isfinite(loss(row)) && !(loss(row) >= metrics.bestEvalLoss)) metrics.bestEvalLoss = loss(row);
    }
    if (reader.hasDataset("/eval/accuracy")) {
        const Eigen::VectorXd accuracy = reader.readVector("/eval/accuracy");
        if (accuracy.size() > 0) metrics.finalEvalAccuracy = accuracy(accuracy.size() - 1);
    }
    for (const TraceEvent& event : diagnosis.events)
        if (event.kind == schema::eventKind::nonFinite) {
            metrics.divergedAt = event.step;
            break;
        }
}

}  // namespace

Diagnosis diagnose(const std::string& path) { return diagnose(trace::TraceReader(path), path); }

Diagnosis diagnose(const trace::TraceReader& reader, const std::string& path) {
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
            if (norms.rows() > 0 && norms.cols() > 0) {
                profile.step = stepOf(norms.rows() - 1);
                for (Eigen::Index column = 0; column < norms.cols(); ++column)
                    profile.norms.push_back(norms(norms.rows() - 1, column));
                profile.firstOverLast = ratio(profile.norms.front(), profile.norms.back());
                profile.firstOverLastInit = ratio(norms(0, 0), norms(0, norms.cols() - 1));
            }
            diagnosis.timestepProfiles.push_back(profile);
        }
    }

    readEvents(reader, diagnosis);
    readTheory(reader, diagnosis, signal);
    readProbes(reader, diagnosis);
    readMetrics(reader, diagnosis);
    decideVerdict(diagnosis);
    return diagnosis;
}

}  // namespace gradlab::analysis
