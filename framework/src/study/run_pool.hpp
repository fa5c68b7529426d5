#pragma once
/// @file run_pool.hpp
/// The process pool of `gradlab sweep`: child processes started with their output in a log file, reaped as they
/// end, with SIGCHLD, SIGINT and SIGTERM waking the waiting parent through a self-pipe.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gradlab::study {

/// How a child of a RunPool ended.
struct ChildExit {
    std::size_t job = 0;  ///< the number given to RunPool::launch
    int waitStatus = 0;   ///< the status waitpid reported
    double seconds = 0;   ///< from launch to exit

    /// "exited with code 3", "was killed by signal 9 (Killed)", or "ended".
    std::string reason() const;
};

/// Child processes and the signals that end their wait. While a pool lives, SIGCHLD (a child ended), SIGINT and
/// SIGTERM (stop: interruptSignal() says which) wake waitForExit() through a self-pipe, so that the parent neither
/// polls nor misses a signal that arrives just before it sleeps; the previous handlers come back when it is
/// destroyed. One pool at a time per process. Every child dies with the parent (PR_SET_PDEATHSIG), so that a
/// killed parent leaves no children behind.
class RunPool {
public:
    /// Installs the signal handlers. Throws Error when the self-pipe cannot be made.
    RunPool();
    ~RunPool();
    RunPool(const RunPool&) = delete;
    RunPool& operator=(const RunPool&) = delete;

    /// Starts `arguments[0]` (a path, not searched in PATH) with `arguments`, stdin from /dev/null and stdout and
    /// stderr to `logPath`, whose first line becomes "# ARGUMENTS..." (appended to the log when `appendLog`, which
    /// then keeps what an earlier run wrote; never through a symbolic link). `job` names the child in its
    /// ChildExit. Throws Error when the log cannot be opened or fork fails; a program that cannot be executed
    /// exits with code 127.
    void launch(std::size_t job, const std::vector<std::string>& arguments, const std::string& logPath,
                bool appendLog);

    /// The children started and not reaped yet.
    std::size_t running() const { return children_.size(); }

    /// SIGINT or SIGTERM when one arrived since the pool was made, 0 when none did.
    int interruptSignal() const;

    /// Sends SIGTERM to every running child.
    void terminateAll() const;

    /// Reaps a child that ended and says how, or (none ended) sleeps until a signal arrives or `milliseconds`
    /// pass and returns nothing. A reaped process that is not one of the pool's gives nothing too, and so does a
    /// pool without children, at once. Throws Error when waitpid fails.
    std::optional<ChildExit> waitForExit(int milliseconds);

private:
    using Clock = std::chrono::steady_clock;
    struct Child {
        pid_t pid = -1;
        std::size_t job = 0;
        Clock::time_point started;
    };

    /// Sleeps until a signal arrived (since the last sleep) or `milliseconds` passed.
    void sleep(int milliseconds);

    std::vector<Child> children_;
    int pipe_[2] = {-1, -1};
    struct Handlers;
    std::unique_ptr<Handlers> previous_;  ///< the handlers to restore
};

}  // namespace gradlab::study
