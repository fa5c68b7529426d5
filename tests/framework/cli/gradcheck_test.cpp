// `gradlab gradcheck` as a user meets it: the real binary, real plugins, exit codes and the per-tensor table.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"

using Catch::Matchers::Contains;

namespace {

using gradlab::testing::Outcome;
using gradlab::testing::runGradlab;

/// The result column ("PASS" or "FAIL") of the table row of `tensor`, or "" when there is no such row.
std::string resultOf(const std::string& output, const std::string& tensor) {
    const std::regex exact("\\n  " + tensor + " +\\[[0-9]+ x [0-9]+\\] +(?:[0-9.e+-]+|inf) +(PASS|FAIL)");
    std::smatch match;
    if (std::regex_search(output, match, exact)) return match[1].str();
    return "";
}

const std::string wrongBackward = std::string("--plugin-path ") + GRADLAB_TEST_PLUGIN_DIR + "/wrong_backward";

}  // namespace

TEST_CASE("gradcheck catches a backward that drops a factor, on the right tensor", "[cli][gradcheck]") {
    const Outcome outcome = runGradlab("gradcheck layer wrong_backward " + wrongBackward);
    INFO(outcome.output);
    CHECK(outcome.exitCode == 1);
    CHECK(resultOf(outcome.output, "x") == "PASS");
    CHECK(resultOf(outcome.output, "W") == "PASS");
    CHECK(resultOf(outcome.output, "b") == "FAIL");
    CHECK_THAT(outcome.output, Contains("worst ("));
    CHECK_THAT(outcome.output, Contains("FAIL: 1 of 3 tensors outside tolerance (b)"));
}

TEST_CASE("gradcheck passes the built-in dense, lstm, prelu and l2", "[cli][gradcheck]") {
    SECTION("dense with an activation: x, W, b") {
        const Outcome outcome = runGradlab("gradcheck layer dense --options \"{units: 5, activation: tanh}\"");
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("gradcheck layer dense {kind: dense, units: 5"));
        CHECK_THAT(outcome.output, Contains("input x [4 x 3]"));
        for (const char* tensor : {"x", "W", "b"}) CHECK(resultOf(outcome.output, tensor) == "PASS");
        CHECK_THAT(outcome.output, Contains("PASS: 3 of 3 tensors within tolerance"));
    }
    SECTION("lstm through time on a sequence shape (features x timesteps)") {
        const Outcome outcome = runGradlab("gradcheck layer lstm --options \"{units: 3}\" --input-shape 4x10");
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("input x [4 x 30] (4 features x 10 timesteps x batch 3)"));
        CHECK(resultOf(outcome.output, "x") == "PASS");
        CHECK_THAT(outcome.output, Contains("PASS: "));
        CHECK_THAT(outcome.output, !Contains("FAIL"));
    }
    SECTION("prelu's learnable slope, per unit") {
        const Outcome outcome = runGradlab("gradcheck activation prelu --options \"{per_unit: true}\" --batch 5");
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK(resultOf(outcome.output, "x") == "PASS");
        CHECK(resultOf(outcome.output, "slope") == "PASS");
    }
    SECTION("l2 regularizer: the penalty's gradient") {
        const Outcome outcome = runGradlab("gradcheck regularizer l2 --options \"{coefficient: 0.1}\"");
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK(resultOf(outcome.output, "w") == "PASS");
        CHECK_THAT(outcome.output, Contains("L = R(w)"));
    }
    SECTION("options from a file; a layer written as an activation's name") {
        const std::string file = gradlab::testing::scratchPath("gradcheck_options.yaml");
        std::ofstream(file) << "# the options of a dense layer\nunits: 2\nbias: false\n";
        const Outcome outcome = runGradlab("gradcheck layer dense --options-file " + file + " --seed 7");
        INFO(outcome.output);
        CHECK(outcome.exitCode == 0);
        CHECK(resultOf(outcome.output, "W") == "PASS");
        CHECK(resultOf(outcome.output, "b") == "");
        const Outcome relu = runGradlab("gradcheck layer relu");
        CHECK(relu.exitCode == 0);
    }
}

TEST_CASE("gradcheck: usage errors exit 2 with the same messages as configs", "[cli][gradcheck][errors]") {
    Outcome outcome = runGradlab("gradcheck layer dense");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("layer 'dense' needs option 'units'"));
    outcome = runGradlab("gradcheck layer dense --options \"{units: 0}\"");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--options:1:9: units: option 'units' must be >= 1, got 0"));
    outcome = runGradlab("gradcheck layer dense --options \"{units: 2, unit: 3}\"");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--options:1:12: unit: unknown key"));
    outcome = runGradlab("gradcheck layer dens");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("unknown layer 'dens' (did you mean 'dense'?"));
    outcome = runGradlab("gradcheck optimizer sgd");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("no gradient of its own"));
    outcome = runGradlab("gradcheck layer dense --options \"{units: 2}\" --input-shape 4y");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--input-shape '4y'"));
    outcome = runGradlab("gradcheck layer dense --options \"{units: 2}\" --precision float32");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("float64"));
    outcome = runGradlab("gradcheck layer");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("gradlab gradcheck --help"));
    outcome = runGradlab("gradcheck --help");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("--input-shape"));
}
