#include "training/output_lock.hpp"

#include <filesystem>

#include "gradlab/error.hpp"

namespace gradlab {

std::string OutputLock::prepare(const std::string& trace) {
    const std::filesystem::path file(trace);
    if (file.has_parent_path()) {
        std::error_code error;
        std::filesystem::create_directories(file.parent_path(), error);
        if (error)
            throw Error("cannot create the output folder '" + file.parent_path().string() + "': " + error.message());
    }
    return files::lockPathFor(trace);
}

OutputLock::OutputLock(const RunConfig& config, const std::string& outputOverride)
    : lock_(prepare(outputOverride.empty() ? config.output : outputOverride),
            "the trace '" + (outputOverride.empty() ? config.output : outputOverride) + "'") {
}

}  // namespace gradlab
