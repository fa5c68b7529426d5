#pragma once
/// @file run_config.hpp
/// The configuration of one training run, read strictly from YAML (see docs/config-reference.md).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/clip_config.hpp"
#include "config/config_node.hpp"
#include "config/detectors_config.hpp"
#include "config/probe_config.hpp"
#include "config/schedule_config.hpp"
#include "data/data_config.hpp"
#include "plugin/plugin_host.hpp"

namespace gradlab {

/// The loss and its options.
struct LossConfig {
    std::string kind;  ///< sse | mse | softmax_cross_entropy | binary_cross_entropy
    bool fromLogits = true;
};

/// A regularizer and the parameters it applies to.
struct RegularizerConfig {
    PluginSpec spec;
    std::string params = "weights";  ///< "weights", "all", or a glob over qualified names ("*.W")
};

/// Length and pace of training.
struct TrainingConfig {
    std::int64_t steps = 0;
    std::int64_t batchSize = 0;  ///< samples per step; with fullBatch, the training set's size once it is known
    /// `batch_size: all`: every step is one batch of the whole training set, in its order (full-batch gradient
    /// descent, as the edge-of-stability studies use); the trainer sets batchSize from the data.
    bool fullBatch = false;
    int threads = 1;
    std::int64_t evalEvery = 0;  ///< 0: only at the end
    ClipConfig clip;
    ScheduleConfig schedule;
};

/// What is traced and how often.
struct TraceConfig {
    bool enabled = true;
    std::int64_t every = 1;
    std::int64_t snapshotEvery = 0;  ///< 0: no snapshots
    std::int64_t flushEvery = 100;   ///< traced rows between flushes to disk
};

/// When a run saves checkpoints, so that `gradlab run --resume` continues it after a crash or a kill.
struct CheckpointConfig {
    bool enabled = true;
    std::int64_t every = 0;   ///< steps between checkpoints; 0: by time only
    double seconds = 300;     ///< wall-clock seconds between checkpoints; 0: by steps only
    std::string path;         ///< "" : beside the trace, <output without .h5>.ckpt.h5
};

/// A whole run.
struct RunConfig {
    std::string file;
    std::string name;
    std::uint64_t seed = 0;
    std::string precision = "float32";
    DataConfig data;
    std::vector<PluginSpec> layers;  ///< with repeats expanded; each carries its `init:` overrides
    LossConfig loss;
    PluginSpec optimizer;
    std::vector<RegularizerConfig> regularizers;
    TrainingConfig training;
    TraceConfig trace;
    CheckpointConfig checkpoint;
    DetectorsConfig detectors;
    std::vector<ProbeConfig> probes;  ///< `probes:`, in config order
    std::string output;
    std::string resolvedYaml;  ///< every key with its value, defaults included, repeats expanded
};

/// Reads and validates a run config; plugin names and options are checked against `host`.
/// Throws ConfigError with file:line:column, the key path and what was expected.
RunConfig readRunConfig(const ConfigNode& root, const PluginHost& host);

/// Loads `file`, applies `--set` overrides, and reads it.
RunConfig loadRunConfig(const std::string& file, const std::vector<std::string>& overrides, const PluginHost& host);

}  // namespace gradlab
