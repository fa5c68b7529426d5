#pragma once
/// @file suggest.hpp
/// "Did you mean" suggestions and lists of known names for error messages.

#include <string>
#include <vector>

namespace gradlab {

/// Levenshtein edit distance between two strings.
std::size_t editDistance(const std::string& a, const std::string& b);

/// The closest candidate to `word` if it is close enough to be a plausible typo, else "".
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

/// " (did you mean 'relu'? known: elu, relu, ...)" or " (known: ...)"; "" when there are no candidates.
std::string suggestionSuffix(const std::string& word, const std::vector<std::string>& candidates);

/// Joins names with ", ".
std::string joinNames(const std::vector<std::string>& names);

}  // namespace gradlab
