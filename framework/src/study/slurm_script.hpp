#pragma once
/// @file slurm_script.hpp
/// The Slurm scripts of a study, written by `gradlab sweep CONFIG --slurm`: an array job with one task per
/// shard, a merge job that runs after every task ended, and a script that submits both (docs/cluster.md).

#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/error.hpp"

namespace gradlab::study {

/// A `--slurm-*` option with a value Slurm or the generator cannot take; the message names the option, what it
/// expects and what it got. `gradlab sweep` reports it as a usage error (exit code 2).
class SlurmOptionError : public Error {
public:
    using Error::Error;
};

/// The resources and settings of a study's Slurm jobs, as `gradlab sweep --slurm-*` gives them.
struct SlurmOptions {
    std::int64_t shards = 0;                   ///< array tasks, one shard each; 0 for defaultSlurmShards
    std::int64_t cpusPerTask = 1;              ///< cores per task (--cpus-per-task), also the shard's `-j`
    std::string time;                          ///< per-task time limit (--time), "" for the partition's default
    std::string memory;                        ///< memory per task (--mem, e.g. "8G"), "" for the default
    std::string partition;                     ///< --partition, "" for the cluster's default partition
    std::string account;                       ///< --account, "" for the user's default account
    std::int64_t maxRunning = 0;               ///< at most this many tasks at once (--array=1-N%K), 0: no limit
    std::vector<std::string> extraDirectives;  ///< more sbatch options, one #SBATCH line each: "--qos=long"
};

/// What the jobs run. Paths must be absolute: the scripts run in any folder, on any node.
struct SlurmStudy {
    std::string name;                     ///< the study's name, for the job names: the study folder's name
    std::string gradlab;                  ///< the gradlab binary
    std::string config;                   ///< the study config
    std::string folder;                   ///< the study folder
    std::vector<std::string> overrides;   ///< the sweep's `--set` overrides, passed on to every task
    std::vector<std::string> pluginPath;  ///< the sweep's `--plugin-path` folders, passed on to every task
    std::string keepLogs;                 ///< the sweep's `--keep-logs` when given ("" when not), passed on too
    std::int64_t runs = 0;                ///< how many runs the study has
};

/// The three scripts' texts. They go to `<study>/slurm/`: array.sbatch, merge.sbatch and submit.sh.
struct SlurmScripts {
    std::string array;   ///< the array job: task i runs `gradlab sweep CONFIG --shard i/N`
    std::string merge;   ///< the merge job: `gradlab sweep --merge STUDY`
    std::string submit;  ///< submits the array, then the merge with --dependency=afterany on it; prints the ids
};

/// The largest default shard count: Slurm's default MaxArraySize (1001) allows task ids up to 1000.
inline constexpr std::int64_t maxDefaultSlurmShards = 1000;

/// The default number of shards: enough tasks for each to run its runs in one wave of `cpusPerTask` at once,
/// ceil(runs / cpusPerTask), at most maxDefaultSlurmShards and at least 1.
std::int64_t defaultSlurmShards(std::int64_t runs, std::int64_t cpusPerTask);

/// Checks the options' values (counts >= 1, Slurm's formats for time and memory, names without spaces or
/// quotes, extra directives that start with '-' and do not set what the scripts set themselves).
/// Throws SlurmOptionError, e.g. "--slurm-time expects a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH,
/// D-HH:MM or D-HH:MM:SS), got '2h'".
void validateSlurmOptions(const SlurmOptions& options);

/// The scripts for `study` with `options` (validated here, with the shard count against the study's runs).
/// Throws SlurmOptionError for a bad option or a path the scripts cannot hold (relative, a newline, a '%').
SlurmScripts makeSlurmScripts(const SlurmStudy& study, const SlurmOptions& options);

/// `text` as one bash word: unchanged when it is made of safe characters only, else in single quotes
/// ('it'\''s' for it's).
std::string shellQuote(const std::string& text);

/// `text` as one argument of an `#SBATCH` line, which sbatch parses itself: unchanged when safe, else in
/// double quotes with '"' and '\' escaped by a backslash.
std::string sbatchQuote(const std::string& text);

}  // namespace gradlab::study
