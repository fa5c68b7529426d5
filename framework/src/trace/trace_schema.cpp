#include "trace/trace_schema.hpp"

#include <ostream>
#include <vector>

#include "gradlab/error.hpp"
#include "util/suggest.hpp"

namespace gradlab {

std::optional<RunStatus> parseRunStatus(std::string_view text) {
    for (const RunStatus status : allRunStatuses)
        if (text == toString(status)) return status;
    return std::nullopt;
}

RunStatus requireRunStatus(std::string_view text, const std::string& where) {
    if (const auto status = parseRunStatus(text)) return *status;
    std::vector<std::string> known;
    for (const RunStatus status : allRunStatuses) known.emplace_back(toString(status));
    throw Error(where + ": unknown status '" + std::string(text) + "'" + suggestionSuffix(std::string(text), known));
}

std::ostream& operator<<(std::ostream& out, RunStatus status) { return out << toString(status); }

}  // namespace gradlab
