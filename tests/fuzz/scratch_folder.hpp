#pragma once
/// @file scratch_folder.hpp
/// Where a fuzz target writes the files it reads back: one folder per process, in memory when the system has
/// /dev/shm (millions of small writes would otherwise wear the disk and slow the fuzzer down).

#include <unistd.h>

#include <filesystem>
#include <string>

namespace gradlab::fuzz {

/// Creates (if needed) and returns <shm or temp>/<name>-<pid>.
inline std::filesystem::path scratchFolder(const char* name) {
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    const auto folder = base / (std::string(name) + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder);
    return folder;
}

}  // namespace gradlab::fuzz
