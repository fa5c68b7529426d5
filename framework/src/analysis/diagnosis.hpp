#pragma once
/// @file diagnosis.hpp
/// Reads a gradlab trace (docs/hdf5-schema.md) and diagnoses its gradients: the run's header, the detector
/// events of /events, per-layer and per-timestep gradient-norm profiles, the mean-field predictions of /theory
/// beside the decay measured at the first traced step, and one verdict. `gradlab inspect` prints it as text or
/// JSON.
///
/// The verdict and its rules: analysis/verdict.hpp.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "analysis/verdict.hpp"
#include "trace/trace_schema.hpp"

namespace gradlab::trace {
class TraceReader;
}

namespace gradlab::analysis {

/// One row of /events: the trace schema's one record (trace/trace_schema.hpp).
using TraceEvent = Event;

/// The per-layer back-propagated gradient norms ||dLoss/d(output of layer l)|| at one traced step.
struct LayerProfile {
    /// The training step of the row.
    std::int64_t step = 0;
    /// One norm per layer, in /meta/layer_names order.
    std::vector<double> norms;
    /// norms.front() / norms.back(): below 1 when the signal shrinks towards the input.
    double firstOverLast = std::numeric_limits<double>::quiet_NaN();
};

/// A recurrent layer's per-timestep gradient norms ||dL/dh_t|| at the last traced step.
struct TimestepProfile {
    /// The dataset's name under /trace/timestep_grad_norm, the layer's name, e.g. "layers.0.rnn".
    std::string layer;
    /// The training step of the row.
    std::int64_t step = 0;
    /// norms[t] = ||dL/dh_{t+1}||, t = 0 .. T-1.
    std::vector<double> norms;
    /// ||dL/dh_1|| / ||dL/dh_T||: below 1 when the gradient shrinks going back in time.
    double firstOverLast = std::numeric_limits<double>::quiet_NaN();
    /// The same ratio at the first traced step (normally step 0, at initialisation).
    double firstOverLastInit = std::numeric_limits<double>::quiet_NaN();
};

/// The numbers a researcher looks at first, one set per run: in the run summary, inspect, the sweep's progress
/// lines, study.h5 and tools/study-to-csv (the columns of the same names, docs/hdf5-schema.md). NaN (or -1
/// for steps) when the trace does not have them.
struct RunMetrics {
    /// /trace/loss at the last traced step: the last training batch's loss.
    double finalTrainLoss = std::numeric_limits<double>::quiet_NaN();
    /// /eval/loss at the last evaluation, and its smallest finite value over the run.
    double finalEvalLoss = std::numeric_limits<double>::quiet_NaN(),
           bestEvalLoss = std::numeric_limits<double>::quiet_NaN();
    /// /eval/accuracy at the last evaluation (classification only).
    double finalEvalAccuracy = std::numeric_limits<double>::quiet_NaN();
    /// /test/accuracy at its last row (the official test split, data.test).
    double testAccuracy = std::numeric_limits<double>::quiet_NaN();
    /// First over last layer of /trace/signal_grad_norm at the first and the last traced step.
    double signalRatioInit = std::numeric_limits<double>::quiet_NaN(),
           signalRatioFinal = std::numeric_limits<double>::quiet_NaN();
    /// ||dL/dh_1|| / ||dL/dh_T|| of the first recurrent layer (in layer order) at the first and last traced step.
    double timestepRatioInit = std::numeric_limits<double>::quiet_NaN(),
           timestepRatioFinal = std::numeric_limits<double>::quiet_NaN();
    /// The step of the first non_finite event, -1 when none.
    std::int64_t divergedAt = -1;
};

/// The mean-field predictions stored in /theory (see theory/mean_field.hpp) beside the measured decay.
struct TheoryComparison {
    /// True when the trace has a /theory group.
    bool present = false;
    /// False when /theory says the theory does not apply to this model (its `applies` attribute is 0); `note`
    /// then says why. Traces from before the attribute have a prediction whenever /theory exists.
    bool applies = true;
    /// The activation the predictions are for.
    std::string activation;
    /// sigma_w^2, sigma_b^2, q*, chi_1, c*, chi_c and the two depth scales, NaN when absent.
    double sigmaW2 = std::numeric_limits<double>::quiet_NaN(), sigmaB2 = std::numeric_limits<double>::quiet_NaN(),
           qStar = std::numeric_limits<double>::quiet_NaN(), chi1 = std::numeric_limits<double>::quiet_NaN(),
           cStar = std::numeric_limits<double>::quiet_NaN(), chiC = std::numeric_limits<double>::quiet_NaN(),
           depthScaleGradient = std::numeric_limits<double>::quiet_NaN(),
           depthScaleCorrelation = std::numeric_limits<double>::quiet_NaN();
    /// Whether the length map reached its fixed point.
    bool converged = false;
    /// Why a prediction is missing or approximate.
    std::string note;
    /// The traced step the measurement is taken at (the first one, normally step 0).
    std::int64_t measuredStep = -1;
    /// Measured per-layer factor of ||dL/dh||^2, comparable to chi_1: with s the signal gradient norms of the
    /// dense layers d_a .. d_b at measuredStep, (s[d_a]^2 / s[d_b]^2)^(1 / (b - a)), the geometric mean of
    /// s[d_i]^2 / s[d_{i+1}]^2. Skips the last dense layer (the output, without activation) and, with 4 or more
    /// dense layers, the first (it still feels the input's variance). NaN with fewer than 2 dense layers.
    double measuredFactor = std::numeric_limits<double>::quiet_NaN();
    /// Number of consecutive dense-layer pairs in measuredFactor.
    int measuredPairs = 0;
    /// Names of the dense layers d_a and d_b.
    std::string measuredFrom, measuredTo;
};

/// One probe's tables (/probes/<name>), and for jacobian_spectrum its first step's spectrum beside its theory.
struct ProbeSummary {
    /// The probe's name (its group under /probes).
    std::string name;
    /// Probe steps recorded, and the first and last (-1 without rows).
    std::int64_t rows = 0, firstStep = -1, lastStep = -1;
    /// Every dataset of the group but `step`, relative to it, with its shape ("mean_sq [S x 8]").
    std::vector<std::string> tables;
    /// jacobian_spectrum: at the first probe step, the mean over examples of mean_sq and of var_sq / mean_sq^2
    /// (NaN when the probe has no such tables).
    double measuredMeanSq = std::numeric_limits<double>::quiet_NaN();
    double measuredNormalisedVarSq = std::numeric_limits<double>::quiet_NaN();
    /// Its /probes/<name>/theory: present, applies, note, weights, and the predictions.
    bool theoryPresent = false, theoryApplies = false;
    std::string theoryNote, theoryWeights;
    double predictedMeanSq = std::numeric_limits<double>::quiet_NaN();
    double predictedNormalisedVarSq = std::numeric_limits<double>::quiet_NaN();
};

/// Everything `gradlab inspect` reports about one trace.
struct Diagnosis {
    /// The trace's path, as given.
    std::string file;
    /// The root attributes status (as written, "unknown" when missing), status_message and precision.
    std::string status, statusMessage, precision;
    /// The status as a RunStatus; nothing when the trace has none or one this gradlab does not know.
    std::optional<RunStatus> runStatus() const { return parseRunStatus(status); }
    /// The config's `name` (from the root attribute config), empty when it has none.
    std::string configName;
    /// Number of traced rows and the first and last traced training step (-1 without rows).
    std::int64_t tracedSteps = 0, firstStep = -1, lastStep = -1;
    /// /trace/loss at the last traced step (NaN or Inf for a diverged run).
    double finalLoss = std::numeric_limits<double>::quiet_NaN();
    /// The last finite /trace/loss and its step (-1 when none).
    double lastFiniteLoss = std::numeric_limits<double>::quiet_NaN();
    /// The step of lastFiniteLoss.
    std::int64_t lastFiniteLossStep = -1;
    /// The last row of /test (the official test split, data.test): its step, loss and accuracy; -1 and NaN when
    /// the trace has no /test.
    std::int64_t testStep = -1;
    double testLoss = std::numeric_limits<double>::quiet_NaN(), testAccuracy = std::numeric_limits<double>::quiet_NaN();
    /// First and last finite /trace/grad_norm, and last over first.
    double firstGradNorm = std::numeric_limits<double>::quiet_NaN(),
           lastGradNorm = std::numeric_limits<double>::quiet_NaN(),
           gradNormGrowth = std::numeric_limits<double>::quiet_NaN();
    /// /meta/layer_names and /meta/layer_kinds.
    std::vector<std::string> layerNames, layerKinds;
    /// Signal gradient norms at the first and last traced steps; empty norms when not traced.
    LayerProfile firstProfile, lastProfile;
    /// One per dataset of /trace/timestep_grad_norm, in name order.
    std::vector<TimestepProfile> timestepProfiles;
    /// True when the trace has an /events table (possibly empty).
    bool eventsRecorded = false;
    /// The rows of /events.
    std::vector<TraceEvent> events;
    /// /theory, if present, and the measured decay.
    TheoryComparison theory;
    /// One per group of /probes, in name order.
    std::vector<ProbeSummary> probes;
    /// The headline numbers (RunMetrics).
    RunMetrics metrics;
    /// The verdict (analysis/verdict.hpp has the rules).
    Verdict verdict = Verdict::unknown;
    /// One to three lines of evidence for the verdict.
    std::vector<std::string> evidence;
};

/// Reads and diagnoses the trace at `path`. Throws Error when the file is missing, not HDF5, not a gradlab
/// trace or of a newer schema version (the message names the file and what it found).
Diagnosis diagnose(const std::string& path);

/// The same, of a trace already open (`path` is the name it was opened by): one open of the file for a reader
/// that also wants something else from it (the sweep reads a finished run's status and its diagnosis).
Diagnosis diagnose(const trace::TraceReader& reader, const std::string& path);

/// The headline numbers in one line, those the trace has, e.g. "eval loss 0.029 (best 0.023), signal ratio
/// 0.48 -> 0.23"; "" when it has none. The run summary, inspect and the sweep's progress lines print it.
std::string formatMetrics(const RunMetrics& metrics);

/// The diagnosis as readable text: header, events, log-scale bar charts of the profiles, theory, verdict.
std::string formatText(const Diagnosis& diagnosis);

/// The diagnosis as one JSON object (keys documented in docs/hdf5-schema.md, "gradlab inspect --json");
/// NaN and infinities are null.
std::string formatJson(const Diagnosis& diagnosis);

}  // namespace gradlab::analysis
