#include "training/output_lock.hpp"

#include <filesystem>

#include "gradlab/error.hpp"
#include "training/trainer.hpp"
#include "util/safe_files.hpp"

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
    const std::string trace = outputOverride.empty() ? config.output : outputOverride;
    const std::string checkpoint = checkpointPath(config, outputOverride);
    // A FIFO would block the run for ever at its first write, a folder would fail it late: refused now.
    files::requireRegularOrMissing(trace, "trace");
    files::requireRegularOrMissing(checkpoint, "checkpoint");
    files::removeStaleTemporaries(trace);
    files::removeStaleTemporaries(checkpoint);
}

}  // namespace gradlab
