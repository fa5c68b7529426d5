#include "util/safe_files.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "gradlab/error.hpp"

namespace gradlab::files {
namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string kindOf(const struct stat& info) {
    if (S_ISREG(info.st_mode)) return "a regular file";
    if (S_ISDIR(info.st_mode)) return "a folder";
    if (S_ISFIFO(info.st_mode)) return "a FIFO";
    if (S_ISLNK(info.st_mode)) return "a symbolic link";
    if (S_ISSOCK(info.st_mode)) return "a socket";
    return "a device";
}

/// 64 random bits from the kernel (getrandom), never a clock or a pid.
std::uint64_t randomBits() {
    std::uint64_t bits = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(&bits);
    std::size_t filled = 0;
    while (filled < sizeof bits) {
        const ssize_t got = ::getrandom(bytes + filled, sizeof bits - filled, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(std::string("cannot make a temporary file name: getrandom failed: ") + std::strerror(errno));
        }
        filled += static_cast<std::size_t>(got);
    }
    return bits;
}

void closeQuietly(int descriptor) {
    if (descriptor >= 0) ::close(descriptor);
}

/// Writes all of `size` bytes; returns 0 or the errno of the failed write.
int writeAll(int descriptor, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t written = ::write(descriptor, data, size);
        if (written < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data += written;
        size -= static_cast<std::size_t>(written);
    }
    return 0;
}

}  // namespace

std::string temporaryNameFor(const std::string& path) {
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, ".tmp-%ld-%016llx", static_cast<long>(::getpid()),
                  static_cast<unsigned long long>(randomBits()));
    return path + suffix;
}

std::size_t removeStaleTemporaries(const std::string& path) {
    const fs::path target(path);
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string prefix = target.filename().string() + ".tmp-";
    std::size_t removed = 0;
    std::error_code error;
    for (fs::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
        const std::string name = entry->path().filename().string();
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        struct stat info {};
        if (::lstat(entry->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
        if (::unlink(entry->path().c_str()) == 0) ++removed;
    }
    return removed;
}

std::string fileKind(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return "";
    return kindOf(info);
}

void requireRegularOrMissing(const std::string& path, const std::string& what) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return;  // missing (or a dangling link, which a rename replaces)
    if (!S_ISREG(info.st_mode))
        throw Error(what + " " + quoted(path) + " is " + kindOf(info) + ", not a regular file");
}

void requireRegular(const std::string& path, const std::string& what) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
        throw Error("cannot open the " + what + " " + quoted(path) + ": " + std::strerror(errno));
    if (!S_ISREG(info.st_mode))
        throw Error("the " + what + " " + quoted(path) + " is " + kindOf(info) + ", not a regular file");
}

void refuseSymbolicLink(const std::string& path, const std::string& what) {
    if (fileKind(path) == "a symbolic link")
        throw Error("refusing to write the " + what + " " + quoted(path) +
                    " through a symbolic link (remove it, or write somewhere else)");
}

int openForWriting(const std::string& path, bool append, const std::string& what) {
    const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : 0);
    const int descriptor = ::open(path.c_str(), flags, 0644);
    if (descriptor < 0) {
        const int reason = errno;
        if (reason == ELOOP)
            throw Error("refusing to write the " + what + " " + quoted(path) +
                        " through a symbolic link (remove it, or write somewhere else)");
        const std::string kind = fileKind(path);
        throw Error("cannot write the " + what + " " + quoted(path) + ": " +
                    (kind.empty() || kind == "a regular file" ? std::string(std::strerror(reason))
                                                              : "it is " + kind + ", not a regular file"));
    }
    struct stat info {};
    if (::fstat(descriptor, &info) != 0 || !S_ISREG(info.st_mode)) {
        const std::string kind = ::fstat(descriptor, &info) == 0 ? kindOf(info) : "unknown";
        closeQuietly(descriptor);
        throw Error("cannot write the " + what + " " + quoted(path) + ": it is " + kind + ", not a regular file");
    }
    // Writes may block again: a full pipe is not what this descriptor is for.
    ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) & ~O_NONBLOCK);
    if (!append && ::ftruncate(descriptor, 0) != 0) {
        const int reason = errno;
        closeQuietly(descriptor);
        throw Error("cannot write the " + what + " " + quoted(path) + ": " + std::strerror(reason));
    }
    return descriptor;
}

void writeFileAtomically(const std::string& path, const std::string& text, const std::string& what, FileSync sync) {
    requireRegularOrMissing(path, "the " + what);
    const std::string temporary = temporaryNameFor(path);
    const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (descriptor < 0)
        throw Error("cannot write the " + what + " " + quoted(path) + ": cannot create " + quoted(temporary) + ": " +
                    std::strerror(errno));
    int reason = writeAll(descriptor, text.data(), text.size());
    if (reason == 0 && sync == FileSync::synced && ::fsync(descriptor) != 0) reason = errno;
    if (::close(descriptor) != 0 && reason == 0) reason = errno;
    if (reason == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) reason = errno;
    if (reason != 0) {
        ::unlink(temporary.c_str());
        throw Error("cannot write the " + what + " " + quoted(path) + ": " + std::strerror(reason));
    }
}

std::string probeWritable(const std::string& folder, std::size_t bytes) {
    const std::string probe = temporaryNameFor((fs::path(folder) / ".gradlab-write-test").string());
    const int descriptor = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (descriptor < 0) return std::strerror(errno);
    static const std::vector<char> zeros(1 << 16, 0);
    int reason = 0;
    for (std::size_t left = bytes; left > 0 && reason == 0;) {
        const std::size_t chunk = std::min(left, zeros.size());
        reason = writeAll(descriptor, zeros.data(), chunk);
        left -= chunk;
    }
    ::close(descriptor);
    ::unlink(probe.c_str());
    return reason == 0 ? std::string() : std::strerror(reason);
}

std::string spaceShortage(const std::string& path, double bytes) {
    auto format = [](double value) {
        const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
        int unit = 0;
        while (value >= 1024.0 && unit < 4) {
            value /= 1024.0;
            ++unit;
        }
        char text[48];
        std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
        return std::string(text);
    };
    const fs::path file(path);
    const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
    struct statvfs disk {};
    if (::statvfs(folder.c_str(), &disk) == 0) {
        const double free = static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize);
        if (free < bytes)
            return "the disk is full: " + quoted(folder.string()) + " has " + format(free) + " free, about " +
                   format(bytes) + " are needed";
    }
    rlimit limit{};
    struct stat info {};
    const double size = ::stat(path.c_str(), &info) == 0 ? static_cast<double>(info.st_size) : 0.0;
    if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        size + bytes > static_cast<double>(limit.rlim_cur))
        return "File too large: the file size limit (ulimit -f) is " + format(static_cast<double>(limit.rlim_cur)) + ", the file is " +
               format(size) + " and about " + format(bytes) + " more are needed";
    return "";
}

}  // namespace gradlab::files
