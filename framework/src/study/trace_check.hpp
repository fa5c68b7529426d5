#pragma once
/// @file trace_check.hpp
/// Whether a finished run's trace still reads: what a sweep checks before it skips the run as done.

#include <string>

namespace gradlab::study {

/// Reads a trace's status attribute and the last row of every dataset it holds (every table column, /meta,
/// /model, snapshots), so that a damaged chunk or a cut file (two writers, a full disk) shows before the run is
/// skipped as done. Throws Error naming the file and the dataset that does not read.
void checkTraceReadable(const std::string& tracePath);

}  // namespace gradlab::study
