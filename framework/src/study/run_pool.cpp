#include "study/run_pool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "gradlab/error.hpp"
#include "util/safe_files.hpp"

namespace gradlab::study {
namespace {

/// The signal that asked the pool to stop (SIGINT or SIGTERM), 0 while none did.
volatile std::sig_atomic_t interruptSignalSeen = 0;

/// The write end of the self-pipe that wakes the waiting parent when a signal arrives; -1 when none.
volatile int wakeupWriteEnd = -1;

/// What a starting child needs, prepared by the parent (the child shares the parent's memory until execv).
struct ChildStart {
    char** argv;                   ///< the program and its arguments, null-terminated
    int log;                       ///< the run's log: its stdout and stderr
    pid_t parent;                  ///< the sweep, which the child must outlive by no moment
    const sigset_t* previousMask;  ///< the signal mask to restore before execv
};

/// The bytes of the stack a child runs on until execv.
constexpr std::size_t childStackBytes = 64 * 1024;

/// A child's first steps, until execv: only system calls, on its own stack, in the parent's memory (CLONE_VM), while
/// the parent waits (CLONE_VFORK). It dies with the parent (a SIGKILLed sweep must not leave runs behind that a rerun
/// would resume beside them); if the parent died before prctl, it ends now.
int startChild(void* argument) {
    const ChildStart& start = *static_cast<const ChildStart*>(argument);
    struct sigaction defaultAction {};
    defaultAction.sa_handler = SIG_DFL;
    sigemptyset(&defaultAction.sa_mask);
    for (const int signal : {SIGCHLD, SIGINT, SIGTERM}) ::sigaction(signal, &defaultAction, nullptr);
    ::sigprocmask(SIG_SETMASK, start.previousMask, nullptr);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != start.parent) ::_exit(126);
    const int input = ::open("/dev/null", O_RDONLY);
    if (input >= 0) ::dup2(input, STDIN_FILENO);
    ::dup2(start.log, STDOUT_FILENO);
    ::dup2(start.log, STDERR_FILENO);
    ::execv(start.argv[0], start.argv);
    const char message[] = "gradlab sweep: cannot execute the gradlab binary\n";
    if (::write(STDERR_FILENO, message, sizeof message - 1) < 0) {
    }
    ::_exit(127);
}

void onSignal(int signal) {
    if (signal != SIGCHLD) interruptSignalSeen = signal;
    const int savedErrno = errno;
    const char byte = 0;
    if (wakeupWriteEnd >= 0 && ::write(wakeupWriteEnd, &byte, 1) < 0) {
        // The pipe is full: the parent is woken already.
    }
    errno = savedErrno;
}

}  // namespace

struct RunPool::Handlers {
    struct sigaction child {};
    struct sigaction interrupt {};
    struct sigaction terminate {};
};

std::string ChildExit::reason() const {
    if (WIFEXITED(waitStatus)) return "exited with code " + std::to_string(WEXITSTATUS(waitStatus));
    if (WIFSIGNALED(waitStatus))
        return "was killed by signal " + std::to_string(WTERMSIG(waitStatus)) + " (" + strsignal(WTERMSIG(waitStatus)) +
               ")";
    return "ended";
}

RunPool::RunPool() {
    interruptSignalSeen = 0;
    if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
    wakeupWriteEnd = pipe_[1];
    previous_ = std::make_unique<Handlers>();
    struct sigaction action {};
    action.sa_handler = &onSignal;
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, &previous_->child);
    sigaction(SIGINT, &action, &previous_->interrupt);
    sigaction(SIGTERM, &action, &previous_->terminate);
}

RunPool::~RunPool() {
    sigaction(SIGCHLD, &previous_->child, nullptr);
    sigaction(SIGINT, &previous_->interrupt, nullptr);
    sigaction(SIGTERM, &previous_->terminate, nullptr);
    wakeupWriteEnd = -1;
    ::close(pipe_[0]);
    ::close(pipe_[1]);
}

int RunPool::interruptSignal() const { return interruptSignalSeen; }

void RunPool::terminateAll() const {
    for (const Child& child : children_) ::kill(child.pid, SIGTERM);
}

void RunPool::launch(std::size_t job, const std::vector<std::string>& arguments, const std::string& logPath,
                     bool appendLog) {
    if (arguments.empty()) throw Error("cannot start a run: no program given");
    std::string commandLine = "#";
    for (const auto& argument : arguments) commandLine += " " + argument;
    commandLine += "\n";
    std::vector<std::string> copies = arguments;
    std::vector<char*> argv;
    for (auto& argument : copies) argv.push_back(argument.data());
    argv.push_back(nullptr);

    const int log = files::openForWriting(logPath, appendLog, "log");
    if (::write(log, commandLine.data(), commandLine.size()) < 0) {
        // The command line is a convenience; the run's own output matters more.
    }
    // The child starts in the parent's memory (clone with CLONE_VM | CLONE_VFORK, as posix_spawn does) rather than
    // in a copy of it (fork): a fork copies the page tables of the whole sweep, whose memory grows with the study
    // (every run's config and row), so it would cost O(runs) per run.
    void* stack = ::mmap(nullptr, childStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                         -1, 0);
    if (stack == MAP_FAILED) {
        const int mapError = errno;
        ::close(log);
        throw Error(std::string("cannot start a run: no memory for its start: ") + std::strerror(mapError));
    }
    // Signals wait until the child has its default handlers back: a SIGTERM sent to it before execv (terminateAll()
    // right after launch) must end it, not run the pool's handler in the child and be lost.
    sigset_t all, previousMask;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &previousMask);
    ChildStart start{argv.data(), log, ::getpid(), &previousMask};
    const pid_t pid =
        ::clone(startChild, static_cast<char*>(stack) + childStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    const int cloneError = errno;
    ::munmap(stack, childStackBytes);  // the child has called execv or exited: it no longer runs on it
    if (pid < 0) {
        ::pthread_sigmask(SIG_SETMASK, &previousMask, nullptr);
        ::close(log);
        throw Error(std::string("cannot start a run: fork failed: ") + std::strerror(cloneError));
    }
    ::pthread_sigmask(SIG_SETMASK, &previousMask, nullptr);
    ::close(log);
    children_.push_back(Child{pid, job, Clock::now()});
}

void RunPool::sleep(int milliseconds) {
    pollfd readEnd{pipe_[0], POLLIN, 0};
    ::poll(&readEnd, 1, milliseconds);
    char buffer[64];
    while (::read(pipe_[0], buffer, sizeof buffer) > 0) {
    }
}

std::optional<ChildExit> RunPool::waitForExit(int milliseconds) {
    if (children_.empty()) return std::nullopt;  // nothing to wait for (waitpid would fail with ECHILD)
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
        sleep(milliseconds);
        return std::nullopt;
    }
    if (pid < 0) throw Error(std::string("waiting for the runs failed: ") + std::strerror(errno));
    const auto found =
        std::find_if(children_.begin(), children_.end(), [&](const Child& child) { return child.pid == pid; });
    if (found == children_.end()) return std::nullopt;
    ChildExit exit{found->job, status, std::chrono::duration<double>(Clock::now() - found->started).count()};
    children_.erase(found);
    return exit;
}

}  // namespace gradlab::study
