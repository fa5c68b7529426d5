#pragma once
/// @file trainer.hpp
/// Runs one training job from a validated config and traces it to HDF5.

#include <cmath>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string>

#include "config/run_config.hpp"
#include "plugin/plugin_host.hpp"
#include "training/detectors.hpp"

namespace gradlab {

/// How a run reports progress while it goes.
enum class ProgressStyle { none, line, live };

/// What the caller asks of a run beyond its config.
struct RunOptions {
    std::string output;  ///< overrides the config's output path when not empty
    ProgressStyle progress = ProgressStyle::none;
    /// When set and non-zero (e.g. by a SIGINT/SIGTERM handler: the signal's number), the run stops before its
    /// next step with status "interrupted", its trace flushed and finished.
    const volatile std::sig_atomic_t* interrupted = nullptr;
    /// Continue from the run's checkpoint (checkpointPath) instead of starting afresh: the trace is cut back to
    /// the checkpoint's step and continued, and the run ends exactly as if it had never stopped. Without a
    /// checkpoint the run starts from step 0 (RunResult::note says so).
    bool resume = false;
};

/// How a run ended.
struct RunResult {
    RunStatus status = RunStatus::running;  ///< completed | diverged | stopped | interrupted | failed at the end
    std::string message;  ///< one line: why it ended
    std::string output;   ///< trace path ("" when tracing is off)
    std::int64_t steps = 0;          ///< training steps taken, including those before a resume
    std::int64_t firstStep = 0;      ///< the step this process started with (> 0 after a resume)
    std::string checkpoint;          ///< the checkpoint file (kept when the run was interrupted or failed)
    std::string note;                ///< what the resume did, e.g. "resumed at step 500 from 'runs/x.ckpt.h5'"
    std::int64_t divergedAt = -1;    ///< step whose loss or gradient was first non-finite
    double firstLoss = 0, lastLoss = 0;
    double firstGradNorm = 0, lastGradNorm = 0;
    double seconds = 0;
    double probeSeconds = 0;       ///< wall-clock seconds spent in probes (part of `seconds`)
    std::int64_t probeSteps = 0;   ///< probe steps taken (steps at which some probe ran)
    std::string signalProfile;  ///< per-layer signal gradient norms at the last traced step, one line
    double testLoss = NAN;      ///< on the official test split (data.test) at its last evaluation; NaN without
    double testAccuracy = NAN;  ///< accuracy there; NaN without a test split or for regression
    std::vector<Event> events;  ///< every detector firing, in order
};

/// Where a run keeps its checkpoint: checkpoint.path, else the trace path (`outputOverride` when not empty, else
/// the config's output) with ".h5" replaced by ".ckpt.h5".
std::string checkpointPath(const RunConfig& config, const std::string& outputOverride);

/// Trains the configured model. Bad data or model errors are thrown (ConfigError/Error) before any trace
/// file is created; a non-finite loss ends the run with status "diverged", recorded in the trace.
RunResult runTraining(const RunConfig& config, const PluginHost& host, const RunOptions& options);

}  // namespace gradlab
