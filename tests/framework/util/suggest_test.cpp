#include "util/suggest.hpp"

#include <catch2/catch.hpp>

using namespace gradlab;

TEST_CASE("edit distance counts insertions, deletions, substitutions and swaps", "[util][suggest]") {
    CHECK(editDistance("relu", "relu") == 0);
    CHECK(editDistance("rleu", "relu") == 1);  // a swap of neighbours
    CHECK(editDistance("unit", "units") == 1);
    CHECK(editDistance("unit", "init") == 1);
    CHECK(editDistance("", "abc") == 3);
}

TEST_CASE("did-you-mean prefers a word that extends the typo, or that it extends", "[util][suggest]") {
    // Both are one edit away: the one sharing the typo's beginning wins, whatever the alphabetical order.
    CHECK(closestMatch("unit", {"init", "units", "bias"}) == "units");
    CHECK(closestMatch("unitss", {"init", "units"}) == "units");
    CHECK(closestMatch("optimiser", {"optimizer", "output"}) == "optimizer");
    // A prefix does not beat a closer word, nor make a far one plausible.
    CHECK(closestMatch("relu", {"re_lu_variant", "relu6"}) == "relu6");
    CHECK(closestMatch("lr", {"lr_decay_steps"}).empty());
    CHECK(suggestionSuffix("unit", {"init", "units"}) == " (did you mean 'units'? known: init, units)");
}
