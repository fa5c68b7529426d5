#pragma once
/// @file output_lock.hpp
/// One writer per run output: the lock a run holds on its trace for its whole life.

#include <string>

#include "config/run_config.hpp"
#include "util/file_lock.hpp"

namespace gradlab {

/// Holds "<trace>.lock" (files::FileLock) while a run writes its trace and checkpoint, so that a second
/// `gradlab run -o X`, or a sweep resuming a run whose first process still lives, is refused with the holder's pid
/// instead of writing the same files. Once held, removes the temporary files of earlier writers of the trace and the
/// checkpoint that were killed before their rename (they can be no one else's), and refuses a trace or checkpoint
/// path that holds something other than a regular file (a FIFO, a folder).
class OutputLock {
public:
    /// Creates the trace's folder when missing, then takes the lock; throws Error naming the holder's pid.
    OutputLock(const RunConfig& config, const std::string& outputOverride);

private:
    static std::string prepare(const std::string& trace);
    files::FileLock lock_;
};

}  // namespace gradlab
