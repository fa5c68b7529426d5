#pragma once
/// @file study_index.hpp
/// The study index: an HDF5 file of schema "gradlab-study" version 1 with one row per run of a study (name,
/// status, final loss, verdict, swept values) and an external link to each run's trace (docs/studies.md).

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "analysis/diagnosis.hpp"
#include "study/study_folder.hpp"
#include "trace/trace_schema.hpp"

namespace gradlab::study {

/// The schema tag every study index carries in its root attribute "schema".
inline constexpr const char* studySchemaName = "gradlab-study";

/// The schema version this writer produces and the newest the reader understands.
inline constexpr std::int64_t studySchemaVersion = 1;

/// How a run ended, as its trace tells it.
struct RunOutcome {
    RunStatus status = RunStatus::running;  ///< the trace's status (never pending)
    std::string message;                    ///< the trace's status_message
    double finalLoss = std::numeric_limits<double>::quiet_NaN();  ///< last row of /trace/loss (NaN if none)
    std::int64_t divergedAt = -1;                                 ///< step of the first non_finite event, -1 if none
    std::string verdict;  ///< analysis::verdictName() of the trace's diagnosis: the verdict inspect prints
    analysis::RunMetrics metrics;  ///< the diagnosis's headline numbers (eval losses, ratios)
};

/// One float64 column of /runs holding a field of analysis::RunMetrics.
struct MetricColumn {
    const char* name;                    ///< the column's name, e.g. "final_eval_loss"
    double analysis::RunMetrics::*field;  ///< the field it holds
};

/// The metric columns of /runs, in file order (docs/studies.md): final_train_loss, final_eval_loss,
/// best_eval_loss, final_eval_accuracy, test_accuracy, signal_ratio_init, signal_ratio_final, timestep_ratio_init,
/// timestep_ratio_final. diverged_at, an integer, has its own column.
const std::vector<MetricColumn>& metricColumns();

/// Reads a run's outcome from its trace: status, message, final loss and divergence step, and the verdict of
/// analysis::diagnose(), the one `gradlab inspect` prints. Throws Error when the file is missing, not a
/// readable trace, or its status is not one of RunStatus.
RunOutcome readRunOutcome(const std::string& tracePath);

/// The one rule of a finished run (trace/trace_schema.hpp): resuming a study skips such runs.
using gradlab::isFinishedStatus;

/// The statuses a row of /runs takes, each counted in a root attribute runs_<status>, in this order.
inline constexpr RunStatus studyRowStatuses[] = {RunStatus::completed, RunStatus::diverged, RunStatus::stopped,
                                                 RunStatus::failed, RunStatus::pending};

/// One run of a study, one row of /runs.
struct StudyRow {
    std::string name;                ///< the run's name, also its file names
    std::int64_t index = 0;          ///< position in the study's expansion order
    RunStatus status = RunStatus::pending;  ///< completed | diverged | stopped | failed | pending
    std::string message;                    ///< why it ended (the trace's status_message or the failure)
    double finalLoss = std::numeric_limits<double>::quiet_NaN();  ///< last training loss, NaN if none
    std::int64_t divergedAt = -1;         ///< step of the first non-finite loss or gradient, -1 if none
    std::string verdict = "unknown";      ///< see RunOutcome::verdict; "unknown" without a trace
    analysis::RunMetrics metrics;         ///< see RunOutcome::metrics; NaN (diverged_at -1) without a trace
    std::string trace;                    ///< the trace file, relative to the study folder
    std::string log;                      ///< the run's stdout and stderr, relative to the study folder
    std::int64_t seed = 0;                ///< the run's seed
    std::vector<std::string> parameters;  ///< the swept values as YAML text, one per StudyIndex::keys entry
};

/// Copies a trace's outcome into a row; a trace that did not reach its end makes the row failed.
void applyOutcome(StudyRow& row, const RunOutcome& outcome);

/// What a row says for a run not done yet: pending, no message, no loss, verdict unknown, no metrics.
void resetRow(StudyRow& row);

/// A whole study index: what the study is, and its rows.
struct StudyIndex {
    std::string config;                  ///< the study config's text
    std::string configFile;              ///< the study config as given on the command line
    std::vector<std::string> overrides;  ///< the `--set` overrides given to `gradlab sweep`
    std::string createdAt;               ///< ISO 8601 UTC, when the study was first indexed
    std::string updatedAt;               ///< ISO 8601 UTC, when this file was written
    std::int64_t shardIndex = 0;         ///< 1-based shard this index covers; 0 for a whole study
    std::int64_t shardCount = 0;         ///< number of shards; 0 for a whole study
    std::int64_t runsTotal = 0;          ///< the runs of the whole study (all shards); 0: rows.size()
    std::vector<std::string> keys;       ///< swept key paths, in sweep order
    std::vector<StudyRow> rows;          ///< every run of the study (of a shard index: of the shard), by index

    /// The shard the index covers (Shard{} for a whole study).
    Shard shard() const { return Shard{shardIndex, shardCount}; }
    /// The row of the run with this index, which the index must cover.
    std::size_t rowOf(std::int64_t runIndex) const { return shard().position(runIndex); }
    /// The runs of the whole study: runsTotal, or rows.size() when it is 0.
    std::size_t studyRuns() const { return runsTotal > 0 ? static_cast<std::size_t>(runsTotal) : rows.size(); }
};

/// Writes the index to `path` atomically (a temporary file renamed over it), so that a reader or a killed
/// sweep never sees a half-written index. External links /links/<name> are made for the rows whose trace
/// exists (relative paths, resolved by HDF5 against the index's folder). A shard index holds its own runs only, so
/// that S shards of R runs write O(R) rows in all, not O(R * S): Error when a row is another shard's or the rows
/// are not the shard's share of runsTotal. Throws Error.
void writeStudyIndex(const std::string& path, const StudyIndex& index);

/// Whether `path` is an HDF5 file whose root attribute `schema` is "gradlab-study" (false for a trace, a
/// folder, a missing or a non-HDF5 file). Never throws.
bool isStudyIndex(const std::string& path);

/// Reads an index, refusing other schemas, newer schema versions and unknown statuses. A shard index gives its own
/// rows (an index written before shard indexes held their own runs only lists every run: its other shards' rows are
/// left out). Throws Error.
StudyIndex readStudyIndex(const std::string& path);

/// Reads the rows of the runs `selection` selects (every row for Shard{}), with the checks of readStudyIndex; rows
/// of an index that lists every run of the study are read by hyperslab, so that a merge of S such shard indexes of R
/// runs reads R / S rows of each, not R. Throws Error.
StudyIndex readStudyIndexRows(const std::string& path, const Shard& selection);

/// The current time as ISO 8601 UTC, e.g. "2026-11-27T03:10:00Z".
std::string utcTimestamp();

}  // namespace gradlab::study
