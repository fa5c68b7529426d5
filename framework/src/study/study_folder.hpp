#pragma once
/// @file study_folder.hpp
/// Where a study's files live (docs/studies.md): STUDY/configs/<run>.yaml, STUDY/runs/<run>.h5,
/// STUDY/logs/<run>.log, and the index STUDY/study.h5 (STUDY/study.shard-i-of-N.h5 for shard i of N).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace gradlab::study {

/// A slice of a study: the runs whose index % count == number - 1. count 0 selects every run.
struct Shard {
    std::int64_t number = 0;  ///< 1-based
    std::int64_t count = 0;   ///< number of shards; 0 for the whole study

    /// Whether the run with this 0-based index belongs to the shard.
    bool selects(std::int64_t index) const { return count == 0 || index % count == number - 1; }
    /// The position of the run with this 0-based index among the shard's runs (the index itself for count 0).
    std::size_t position(std::int64_t index) const {
        return static_cast<std::size_t>(count == 0 ? index : index / count);
    }
    /// How many of a study's `runs` runs the shard has.
    std::size_t runsOf(std::size_t runs) const {
        if (count == 0) return runs;
        const auto first = static_cast<std::size_t>(number - 1), stride = static_cast<std::size_t>(count);
        return first >= runs ? 0 : (runs - first + stride - 1) / stride;
    }
    /// "i/N".
    std::string label() const { return std::to_string(number) + "/" + std::to_string(count); }
};

/// The shard "i/N" names, 1 <= i <= N (numbered from 1 like SLURM_ARRAY_TASK_ID); nothing for any other text.
std::optional<Shard> parseShard(const std::string& text);

/// The shard a file name "study.shard-i-of-N.h5" names (only its digits are checked, not 1 <= i <= N); nothing for
/// any other name.
std::optional<Shard> shardOfIndexName(const std::string& fileName);

/// A study folder: where configs, traces, logs and the index go.
struct StudyFolder {
    std::filesystem::path root;

    /// The run's trace and log relative to the study folder, as the index and the run's config name them (a moved
    /// study folder keeps its meaning).
    static std::filesystem::path relativeTrace(const std::string& name) { return "runs/" + name + ".h5"; }
    static std::filesystem::path relativeLog(const std::string& name) { return "logs/" + name + ".log"; }

    std::filesystem::path config(const std::string& name) const { return root / "configs" / (name + ".yaml"); }
    std::filesystem::path trace(const std::string& name) const { return root / relativeTrace(name); }
    std::filesystem::path log(const std::string& name) const { return root / relativeLog(name); }
    /// study.h5 for the whole study (count 0), study.shard-i-of-N.h5 for a shard.
    std::filesystem::path index(const Shard& shard) const;

    /// Creates the folder with its configs/, runs/ and logs/. Throws Error naming the folder that cannot be made.
    void create() const;
};

}  // namespace gradlab::study
