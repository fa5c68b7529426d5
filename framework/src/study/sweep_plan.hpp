#pragma once
/// @file sweep_plan.hpp
/// Studies: a run config plus a top-level `sweep:` block (grid, zip, seeds, name template) expanded into the
/// list of runs it describes, every run validated with the real plugins before anything runs
/// (docs/studies.md).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config_node.hpp"
#include "plugin/plugin_host.hpp"
#include "study/study_folder.hpp"
#include "study/study_index.hpp"

namespace gradlab::study {

/// The swept key that only labels runs: `sweep.zip.label: [plain, rezero]` (or in the grid) names each run's
/// variant for its name, `{label}`, the index's `param/label` and the plots' `--hue label`, and changes nothing
/// in the run's config (docs/studies.md).
inline constexpr const char* labelKey = "label";

/// One value a run gives to one swept key, applied like `--set key=value`.
struct SweepSetting {
    std::string key;         ///< config key path, e.g. "model.layers.0.repeat"; "seed" for `sweep.seeds`
    std::string sweepPath;   ///< where it was declared: "sweep.grid.<key>", "sweep.zip.<key>" or "sweep.seeds"
    std::string label;       ///< the key's short name in run names: its last path segment(s), e.g. "repeat"
    std::string valueText;   ///< the value as one line of YAML, e.g. "0.1", "relu", "{kind: dense, units: 3}"
    std::string keyWhere;    ///< "file:line:column" of the key in the study config (or the --set that gave it)
    std::string valueWhere;  ///< "file:line:column" of this value

    /// The override as `--set` takes it: "key=valueText".
    std::string overrideText() const { return key + "=" + valueText; }

    /// Whether it only labels the run (the key `label`), giving no override to its config.
    bool labelsOnly() const { return key == labelKey; }
};

/// One run of a study: its position, its name and what it changes in the base config.
struct PlannedRun {
    std::int64_t index = 0;              ///< 0-based position in the expansion order
    std::string name;                    ///< readable and safe as a file name, e.g. "repeat=8,activation=relu,seed=2"
    std::vector<SweepSetting> settings;  ///< grid values, then zip values, then the seed (when seeds are swept)
    std::uint64_t seed = 0;              ///< the run's resolved `seed`
    /// resolvedRunConfig(plan, run, StudyFolder::relativeTrace(name)) as validation read it; "" when not validated
    std::string resolvedConfig;

    /// The value this run gives to `key` ("" when it does not set it).
    std::string valueOf(const std::string& key) const;
};

/// A study expanded and validated: the runs and what is needed to write their configs.
struct SweepPlan {
    std::string configFile;                     ///< the study config as given on the command line
    std::string configText;                     ///< its text, as read
    std::vector<std::string> commandOverrides;  ///< `--set` overrides applied to the base config, as typed
    std::vector<std::string> keys;              ///< swept key paths: grid keys, then zip keys (not "seed")
    bool seedsSwept = false;                    ///< whether `sweep.seeds` was given
    std::vector<PlannedRun> runs;               ///< in expansion order: grid (last key fastest), zip, seeds

    /// The overrides that turn the study config into `run`'s config: the command's `--set` overrides, the
    /// removal of `sweep`, then the run's settings.
    std::vector<std::string> overridesFor(const PlannedRun& run) const;
};

/// Expands the study config `text` (read from `file`, which names it in errors) after `overrides` into its runs, as
/// planSweep does, without reading any run's config: a run's `seed` is its seed setting, 0 without one. For the runs
/// of a study whose config is known only as its index keeps it (a merge naming the runs of a shard that wrote no
/// index). Throws ConfigError.
SweepPlan expandSweep(const std::string& file, const std::string& text, const std::vector<std::string>& overrides);

/// Reads the `sweep:` block of `file` (after applying `overrides`), expands it, and validates every run's
/// config with readRunConfig against `host`; for a shard (shard.count > 0), the runs of that shard only (each shard
/// validates its own, so S shards cost O(runs), not O(runs * S)). Errors name the sweep key, its value and their
/// file:line:column: "configs/studies/x.yaml:7:5: sweep.grid.model.layers.9.units: index 9 is past the end of a
/// list of 3". Throws ConfigError.
SweepPlan planSweep(const std::string& file, const std::vector<std::string>& overrides, const PluginHost& host,
                    const Shard& shard = Shard{});

/// The run's complete config as YAML text (every key, defaults included), ready to be written anywhere:
/// file paths are absolute (resolved against the study config's folder), `name` is the run's name and `output`
/// is `tracePath` as given (the sweep gives "runs/<name>.h5", relative to the study folder, and runs it with -o, so
/// that the text does not change when the study folder is moved). `gradlab run` on this text reproduces the run.
/// Throws ConfigError.
std::string resolvedRunConfig(const SweepPlan& plan, const PlannedRun& run, const std::string& tracePath,
                              const PluginHost& host);

/// A new index of the plan's study for `shard` (count 0: the whole study): every run of the shard a row, pending,
/// with its swept values, seed and file names; runsTotal the study's runs; createdAt and updatedAt are now.
StudyIndex newStudyIndex(const SweepPlan& plan, const Shard& shard);

/// One run to execute: its row in the index and its files.
struct RunJob {
    std::size_t row = 0;  ///< the run's row in the StudyIndex (StudyIndex::rowOf its index)
    std::string config;   ///< resolved YAML text, written to configPath before the run starts
    std::filesystem::path configPath, tracePath, logPath;
    bool resume = false;  ///< continue the killed or interrupted run (gradlab run --resume)
};

/// What a sweep does with its runs, given what the study folder holds already.
struct ResumePlan {
    std::vector<RunJob> toRun;       ///< in run order
    std::size_t skipped = 0;         ///< finished with the same config and a readable trace: done
    std::size_t resumed = 0;         ///< of toRun, those continued from their checkpoints
    std::size_t elsewhere = 0;       ///< locked by a live process: not started
    std::vector<std::string> notes;  ///< "not starting NAME: ..." and "rerunning NAME: ..." lines, in run order
};

/// Resume planning: for each of `selected`, what its files in `folder` say. A run whose trace lock is held is
/// running elsewhere: left alone, its row's message says who holds it. A run whose trace finished (completed,
/// diverged, stopped) with the config it would get now and still reads is skipped, its outcome copied into its
/// row. A run killed or interrupted (running, interrupted) with the same config is resumed. Any other run (no
/// trace, a damaged trace, a changed config, a failed run) is run afresh. Reads files, writes none and starts no
/// process. Throws ConfigError when a run's config cannot be resolved.
ResumePlan planResume(const SweepPlan& plan, const std::vector<const PlannedRun*>& selected,
                      const StudyFolder& folder, StudyIndex& index, const PluginHost& host);

/// Replaces what cannot appear in a file name ('/', '\\', whitespace and control characters) with '_'.
std::string sanitizeRunName(const std::string& name);

/// The plan as a table, one line per run: index, name and overrides, for `gradlab sweep --plan`.
std::string describePlan(const std::vector<const PlannedRun*>& runs);

}  // namespace gradlab::study
