#include "study/study_folder.hpp"

#include <regex>
#include <system_error>

#include "gradlab/error.hpp"

namespace gradlab::study {

std::optional<Shard> parseShard(const std::string& text) {
    static const std::regex pattern("^([0-9]{1,9})/([0-9]{1,9})$");
    std::smatch match;
    if (!std::regex_match(text, match, pattern)) return std::nullopt;
    const Shard shard{std::stoll(match[1]), std::stoll(match[2])};
    if (shard.count < 1 || shard.number < 1 || shard.number > shard.count) return std::nullopt;
    return shard;
}

std::optional<Shard> shardOfIndexName(const std::string& fileName) {
    static const std::regex pattern("^study\\.shard-([0-9]+)-of-([0-9]+)\\.h5$");
    std::smatch match;
    if (!std::regex_match(fileName, match, pattern)) return std::nullopt;
    return Shard{std::stoll(match[1]), std::stoll(match[2])};
}

std::filesystem::path StudyFolder::index(const Shard& shard) const {
    if (shard.count == 0) return root / "study.h5";
    return root / ("study.shard-" + std::to_string(shard.number) + "-of-" + std::to_string(shard.count) + ".h5");
}

void StudyFolder::create() const {
    for (const char* sub : {"configs", "runs", "logs"}) {
        std::error_code error;
        std::filesystem::create_directories(root / sub, error);
        if (error)
            throw Error("cannot create the study folder '" + (root / sub).string() + "': " + error.message());
    }
}

}  // namespace gradlab::study
