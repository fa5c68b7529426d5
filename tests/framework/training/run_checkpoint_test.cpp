// The config check of a resume: one comparison of the resolved configs, naming the first line that differs.
#include "training/run_checkpoint.hpp"

#include <catch2/catch.hpp>

using namespace gradlab;
using Catch::Matchers::Contains;

TEST_CASE("firstDifference names the first differing line of two resolved configs", "[training][checkpoint]") {
    CHECK(firstDifference("a: 1\nb: 2\n", "a: 1\nb: 3\n") == "resolved config line 2: checkpoint 'b: 2', now 'b: 3'");
    CHECK(firstDifference("a: 1\n", "a: 1\nb: 2\n") == "resolved config line 2: checkpoint '(end)', now 'b: 2'");
    CHECK(firstDifference("a: 1", "a: 1\n") == "they differ in whitespace only");
}

TEST_CASE("requireSameConfig refuses another run's checkpoint, naming it", "[training][checkpoint]") {
    CHECK_NOTHROW(requireSameConfig("runs/x.ckpt.h5", "steps: 5\n", "steps: 5\n"));
    CHECK_THROWS_WITH(requireSameConfig("runs/x.ckpt.h5", "steps: 5\n", "steps: 6\n"),
                      Contains("cannot resume from 'runs/x.ckpt.h5': it was written with a different config "
                               "(resolved config line 1: checkpoint 'steps: 5', now 'steps: 6')"));
}
