#pragma once
/// @file trace_schema.hpp
/// Names of the trace schema that cross files (docs/hdf5-schema.md): the run statuses, the /events record, its
/// columns and its kinds. The trainer writes them, and inspect, the study index, checkpoints and the sweep read
/// them, through these names.

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace gradlab {

/// One row of /events: a detector firing, as the trainer records it and every reader reads it back.
struct Event {
    /// The training step it fired at.
    std::int64_t step = 0;
    /// One of schema::eventKind's names (later versions may add kinds: readers keep unknown ones).
    std::string kind;
    /// The layer or parameter, with the phase for non_finite, e.g. "forward layers.3.dense".
    std::string where;
    /// The timestep of a recurrent layer, -1 when not applicable.
    std::int64_t timestep = -1;
    /// The value that triggered it (a norm, a ratio, a fraction; NaN when none).
    double value = std::numeric_limits<double>::quiet_NaN();
    /// One readable sentence.
    std::string message;
};

/// How a run stands, as the root attribute "status" of its trace and the /runs/status column of a study index
/// record it (docs/hdf5-schema.md, docs/studies.md). The text of each value (toString) is the on-disk contract.
enum class RunStatus {
    running,      ///< "running": the trace is being written, or its writer was killed
    completed,    ///< "completed": every step ran
    diverged,     ///< "diverged": a non-finite loss or gradient ended the run
    stopped,      ///< "stopped": a detector with action: stop ended the run
    interrupted,  ///< "interrupted": SIGINT or SIGTERM ended it before its last step (resumable)
    failed,       ///< "failed": an error ended it
    pending,      ///< "pending": a study's run that has not run yet (study indexes only, never a trace)
};

/// Every RunStatus, in declaration order.
inline constexpr RunStatus allRunStatuses[] = {RunStatus::running,     RunStatus::completed, RunStatus::diverged,
                                               RunStatus::stopped,     RunStatus::interrupted, RunStatus::failed,
                                               RunStatus::pending};

/// The status as it is written to disk, e.g. "completed".
inline const char* toString(RunStatus status) {
    switch (status) {
        case RunStatus::running: return "running";
        case RunStatus::completed: return "completed";
        case RunStatus::diverged: return "diverged";
        case RunStatus::stopped: return "stopped";
        case RunStatus::interrupted: return "interrupted";
        case RunStatus::failed: return "failed";
        case RunStatus::pending: return "pending";
    }
    return "running";  // not reached: every value is named above
}

/// The status a text names, or nothing when it names none (a damaged file, or one of a newer gradlab).
std::optional<RunStatus> parseRunStatus(std::string_view text);

/// The status a text names; throws Error "WHERE: unknown status 'TEXT' (did you mean '...'? known: ...)" when
/// it names none.
RunStatus requireRunStatus(std::string_view text, const std::string& where);

/// Writes toString(status), so that messages and test failures show the name.
std::ostream& operator<<(std::ostream& out, RunStatus status);

/// True for the statuses of a run that reached its end: completed, diverged and stopped (running,
/// interrupted and failed runs did not). The verdict says so in its evidence; a resumed study skips such runs.
inline bool isFinishedStatus(RunStatus status) {
    return status == RunStatus::completed || status == RunStatus::diverged || status == RunStatus::stopped;
}

/// isFinishedStatus of a status read from a file: a text that names no status is not finished.
inline bool isFinishedStatus(std::optional<RunStatus> status) { return status && isFinishedStatus(*status); }

namespace schema {

/// The /events group and its columns.
inline constexpr const char* events = "/events";
namespace eventColumn {
inline constexpr const char* step = "step";
inline constexpr const char* kind = "kind";
inline constexpr const char* where = "where";
inline constexpr const char* timestep = "timestep";
inline constexpr const char* value = "value";
inline constexpr const char* message = "message";
}  // namespace eventColumn

/// The kinds of /events rows.
namespace eventKind {
inline constexpr const char* nonFinite = "non_finite";
inline constexpr const char* exploding = "exploding";
inline constexpr const char* vanishing = "vanishing";
inline constexpr const char* stalled = "stalled";
inline constexpr const char* saturated = "saturated";
}  // namespace eventKind

}  // namespace schema
}  // namespace gradlab
