#include "util/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gradlab/error.hpp"

namespace gradlab::files {
namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

/// The pid written in an open lock file, 0 when there is none yet.
pid_t readPid(int descriptor) {
    char text[32] = {};
    const ssize_t got = ::pread(descriptor, text, sizeof text - 1, 0);
    if (got <= 0) return 0;
    return static_cast<pid_t>(std::strtol(text, nullptr, 10));
}

}  // namespace

FileLock::FileLock(const std::string& lockPath, const std::string& what) : path_(lockPath) {
    // A holder removes the file on release; one who locked the removed file retries with the new one.
    int busy = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int descriptor = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
        if (descriptor < 0) {
            const int reason = errno;
            throw Error("cannot lock " + what + ": cannot open the lock file " + quoted(path_) + ": " +
                        (reason == ELOOP ? std::string("it is a symbolic link") : std::strerror(reason)));
        }
        struct stat opened {};
        if (::fstat(descriptor, &opened) != 0 || !S_ISREG(opened.st_mode)) {
            ::close(descriptor);
            throw Error("cannot lock " + what + ": the lock file " + quoted(path_) + " is not a regular file");
        }
        if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
            const int reason = errno;
            const pid_t holder = readPid(descriptor);
            ::close(descriptor);
            // lockHolder() takes a shared lock for an instant: a few short retries tell it from a real holder.
            if (reason == EWOULDBLOCK && ++busy < 5) {
                ::usleep(20000);
                continue;
            }
            if (reason == EWOULDBLOCK)
                throw Error(what + " is being written by another process (" +
                            (holder > 0 ? "pid " + std::to_string(holder) : std::string("pid unknown")) +
                            ", lock " + quoted(path_) + "); wait for it to end, or stop it");
            throw Error("cannot lock " + what + " (" + quoted(path_) + "): " + std::strerror(reason));
        }
        struct stat current {};
        if (::lstat(path_.c_str(), &current) != 0 || current.st_ino != opened.st_ino ||
            current.st_dev != opened.st_dev) {
            ::close(descriptor);  // locked a file its holder removed meanwhile
            continue;
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(descriptor, 0) != 0 || ::pwrite(descriptor, pid.data(), pid.size(), 0) < 0) {
            // The pid only improves the message a second writer gets; the lock holds without it.
        }
        descriptor_ = descriptor;
        return;
    }
    throw Error("cannot lock " + what + ": the lock file " + quoted(path_) + " keeps being replaced");
}

FileLock::~FileLock() {
    if (descriptor_ < 0) return;
    ::unlink(path_.c_str());
    ::close(descriptor_);
}

std::optional<pid_t> lockHolder(const std::string& lockPath) {
    const int descriptor = ::open(lockPath.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (descriptor < 0) return std::nullopt;
    struct stat info {};
    if (::fstat(descriptor, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(descriptor);
        return std::nullopt;
    }
    std::optional<pid_t> holder;
    if (::flock(descriptor, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        holder = readPid(descriptor);
    ::close(descriptor);
    return holder;
}

}  // namespace gradlab::files
