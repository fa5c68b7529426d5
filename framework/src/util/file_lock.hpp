#pragma once
/// @file file_lock.hpp
/// Exclusive advisory locks (flock) on "<file>.lock", held by the one process that writes a file, which says
/// who it is: a second writer is refused with the holder's pid.

#include <optional>
#include <string>
#include <sys/types.h>

namespace gradlab::files {

/// Holds an exclusive flock on a lock file for its lifetime. The lock file holds the holder's pid; it is created
/// without following a symbolic link, never inherited by child processes, and removed on release (a holder checks
/// after locking that the file it locked is still the one at the path, so removal cannot let two processes hold
/// one lock). The kernel releases the lock when its process dies, however it dies.
class FileLock {
public:
    /// Takes the lock at `lockPath`, or throws Error "<what> is being written by another process (pid N, lock
    /// 'lockPath')" when someone holds it. `what` says what the lock protects, e.g. "the trace 'runs/a.h5'".
    FileLock(const std::string& lockPath, const std::string& what);
    /// Removes the lock file and releases the lock.
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

    /// The lock file's path.
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int descriptor_ = -1;
};

/// The pid of the process holding the lock at `lockPath`, 0 when the holder is unknown (it has not written its pid
/// yet), or nothing when nobody holds it. Never creates the lock file and never takes the lock.
std::optional<pid_t> lockHolder(const std::string& lockPath);

/// The lock file that protects `path`: "<path>.lock".
inline std::string lockPathFor(const std::string& path) { return path + ".lock"; }

}  // namespace gradlab::files
