#include "util/suggest.hpp"

#include <algorithm>
#include <numeric>

namespace gradlab {

std::size_t editDistance(const std::string& a, const std::string& b) {
    // Optimal string alignment: insertions, deletions, substitutions and swaps of neighbours ("rleu").
    std::vector<std::size_t> beforePrevious(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
    std::iota(previous.begin(), previous.end(), 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                current[j] = std::min(current[j], beforePrevious[j - 2] + 1);
        }
        std::swap(beforePrevious, previous);
        std::swap(previous, current);
    }
    return previous[b.size()];
}

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
    // A candidate that extends the word, or that the word extends ("unit" and "units"), is the likelier
    // typo: it ranks half an edit closer than its distance, so it wins over an equally distant word ("init").
    auto isPrefixPair = [&](const std::string& candidate) {
        const std::size_t shorter = std::min(word.size(), candidate.size());
        return shorter >= 2 && word.compare(0, shorter, candidate, 0, shorter) == 0;
    };
    std::string best;
    std::size_t bestDistance = std::string::npos, bestRank = std::string::npos;
    for (const auto& candidate : candidates) {
        const std::size_t distance = editDistance(word, candidate);
        const std::size_t rank = 2 * distance - (isPrefixPair(candidate) ? 1 : 0);
        if (rank < bestRank) {
            bestRank = rank;
            bestDistance = distance;
            best = candidate;
        }
    }
    // A plausible typo: at most a third of the word's letters differ (and at least one edit is allowed).
    const std::size_t allowed = std::max<std::size_t>(1, std::max(word.size(), best.size()) / 3);
    return bestDistance <= allowed ? best : std::string();
}

std::string joinNames(const std::vector<std::string>& names) {
    std::string joined;
    for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
    return joined;
}

std::string suggestionSuffix(const std::string& word, const std::vector<std::string>& candidates) {
    if (candidates.empty()) return "";
    std::vector<std::string> sorted = candidates;
    std::sort(sorted.begin(), sorted.end());
    const std::string match = closestMatch(word, sorted);
    std::string suffix = " (";
    if (!match.empty()) suffix += "did you mean '" + match + "'? ";
    return suffix + "known: " + joinNames(sorted) + ")";
}

}  // namespace gradlab
