#pragma once
/// @file trace_schema.hpp
/// Names of the trace schema that cross files (docs/hdf5-schema.md): the /events record, its columns and its
/// kinds. The trainer writes them, and inspect, the study index and checkpoints read them, through these names.

#include <cstdint>
#include <limits>
#include <string>

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

/// True for the statuses of a run that reached its end: completed, diverged and stopped (running,
/// interrupted and failed runs did not). The verdict says so in its evidence; a resumed study skips such runs.
inline bool isFinishedStatus(const std::string& status) {
    return status == "completed" || status == "diverged" || status == "stopped";
}

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
