#pragma once
/// @file safe_files.hpp
/// Writing files in folders other people may write to: temporary names nobody can guess or plant, no write that
/// follows a symbolic link, and nothing opened that is not a regular file (a FIFO would block for ever).

#include <cstddef>
#include <cstdint>
#include <string>

#include "gradlab/error.hpp"

namespace gradlab::files {

/// A write refused before it started because the disk (or the file size limit) has no room for it: the file is
/// left as its last complete write made it.
class NoSpaceError : public Error {
public:
    using Error::Error;
};

/// A fresh temporary name beside `path`, "<path>.tmp-<pid>-<16 random hex digits>", for a file to be created
/// exclusively (O_CREAT | O_EXCL, H5F_ACC_EXCL) and renamed over `path`. The random part comes from getrandom().
std::string temporaryNameFor(const std::string& path);

/// Removes the regular files "<path>.tmp-*" that writers of `path` killed before their rename left behind, and
/// returns how many. Call it only while holding the lock that makes this process the one writer of `path`.
std::size_t removeStaleTemporaries(const std::string& path);

/// What the file system holds at `path` without following a final symbolic link: "a regular file", "a folder",
/// "a FIFO", "a symbolic link", "a socket", "a device", or "" when nothing is there.
std::string fileKind(const std::string& path);

/// Throws Error "<what> 'path' is <kind>, not a regular file" unless `path` (followed through symbolic links) is a
/// regular file or does not exist. `what` names the role, e.g. "trace" or "data file".
void requireRegularOrMissing(const std::string& path, const std::string& what);

/// Throws Error unless `path` exists and is a regular file, naming `what` and the kind found.
void requireRegular(const std::string& path, const std::string& what);

/// Throws Error when `path` is a symbolic link: a file gradlab opens for writing in place is never written through
/// one (another user may have planted it in a shared folder).
void refuseSymbolicLink(const std::string& path, const std::string& what);

/// Opens `path` for writing without following a symbolic link and without blocking on a FIFO (O_NOFOLLOW,
/// O_NONBLOCK, O_CLOEXEC), truncating it or appending to it, and checks that it is a regular file. Returns the
/// descriptor; throws Error "cannot write the <what> 'path': <reason>".
int openForWriting(const std::string& path, bool append, const std::string& what);

/// Whether a file written atomically is synced to the disk before it is renamed into place.
enum class FileSync {
    synced,    ///< fsync first: after a power failure the file holds the new text or the old one
    unsynced,  ///< no fsync (a few ms less): a reader still sees the old or the new text, never a part, but after a
               ///< power failure the file may be empty; for files rewritten when they do not match (run configs)
};

/// Writes `text` as `path` atomically: an exclusively created temporary file, synced unless `sync` says not, renamed
/// over `path` (which replaces a symbolic link there instead of following it). Throws Error naming `what` and `path`.
void writeFileAtomically(const std::string& path, const std::string& text, const std::string& what,
                         FileSync sync = FileSync::synced);

/// Checks that `bytes` can be written in `folder`: a file created exclusively under an unpredictable name (never
/// through a name another user could plant), filled, and removed. Returns "" when it worked, else the reason
/// (strerror text).
std::string probeWritable(const std::string& folder, std::size_t bytes);

/// Why `bytes` more cannot be added to the file at `path` (which may not exist yet): "the disk is full: '<folder>'
/// has 12.0 KiB free, about 300.0 KiB are needed" or "the file size limit (ulimit -f) is 1.5 MiB, ..."; "" when
/// they fit. Checked before a write that must not be cut short halfway (a trace flush).
std::string spaceShortage(const std::string& path, double bytes);

}  // namespace gradlab::files
