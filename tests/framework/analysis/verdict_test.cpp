// One verdict everywhere: real traces of every verdict, judged by inspect's diagnosis and by the study index's
// reader, which must agree; the rules printed in help come from the constants.
#include "analysis/verdict.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <sstream>

#include "analysis/diagnosis.hpp"
#include "analysis/format.hpp"
#include "config/run_config.hpp"
#include "study/study_index.hpp"
#include "support/plugin_fixture.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

std::string shipped(const std::string& name) { return std::string(GRADLAB_SOURCE_DIR) + "/configs/" + name; }

/// Runs a shipped config with overrides into a scratch trace; `interrupt` stops it before its first step.
std::string runTrace(const std::string& config, const std::vector<std::string>& overrides, const std::string& name,
                     bool interrupt = false) {
    const std::string output = testing::scratchPath("verdict_" + name + ".h5");
    const RunConfig loaded = loadRunConfig(shipped(config), overrides, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    static volatile std::sig_atomic_t stop = SIGINT;
    if (interrupt) options.interrupted = &stop;
    runTraining(loaded, testing::builtinPlugins(), options);
    return output;
}

}  // namespace

TEST_CASE("inspect and the study index give the same verdict on real traces of every verdict", "[analysis][verdict]") {
    struct Case {
        analysis::Verdict expected;
        std::string config;
        std::vector<std::string> overrides;
        bool interrupt = false;
    };
    const std::vector<Case> cases = {
        {analysis::Verdict::healthy, "two_layer.yaml", {"training.steps=40"}},
        {analysis::Verdict::diverged, "two_layer.yaml", {"training.steps=40", "optimizer.lr=1e-3"}},
        {analysis::Verdict::exploding, "two_layer.yaml", {"training.steps=10", "detectors.exploding.norm=10"}},
        {analysis::Verdict::vanishing, "deep_sigmoid.yaml", {"training.steps=5"}},
        {analysis::Verdict::stalled, "two_layer.yaml", {"training.steps=10", "detectors.stalled.update_ratio=0.5"}},
        {analysis::Verdict::saturated, "deep_relu.yaml", {"training.steps=20"}},
        {analysis::Verdict::unknown, "two_layer.yaml", {}, true},
    };
    std::vector<analysis::Verdict> seen;
    for (const Case& c : cases) {
        const std::string name = analysis::verdictName(c.expected);
        CAPTURE(name, c.config);
        const std::string trace = runTrace(c.config, c.overrides, name, c.interrupt);
        const analysis::Diagnosis diagnosis = analysis::diagnose(trace);
        CHECK(analysis::verdictName(diagnosis.verdict) == name);
        CHECK(study::readRunOutcome(trace).verdict == name);
        REQUIRE_FALSE(diagnosis.evidence.empty());
        const std::string text = analysis::formatText(diagnosis);
        CHECK_THAT(text, Contains("verdict: " + name));
        // Never "no detector fired" under fired events.
        if (!diagnosis.events.empty()) CHECK_THAT(text, !Contains("no detector fired"));
        seen.push_back(diagnosis.verdict);
    }
    // Every verdict is covered by a real trace.
    for (analysis::Verdict verdict : analysis::allVerdicts)
        CHECK(std::find(seen.begin(), seen.end(), verdict) != seen.end());
}

TEST_CASE("the verdict rules print the thresholds of the constants", "[analysis][verdict]") {
    const std::string rules = analysis::verdictRules();
    CHECK_THAT(rules, Contains("below " + analysis::threshold(analysis::vanishingRatio)));
    CHECK_THAT(rules, Contains("more than " + analysis::threshold(analysis::explodingGrowth)));
    CHECK(analysis::threshold(1e-4) == "1e-4");
    CHECK(analysis::threshold(1e3) == "1e3");
    CHECK(analysis::threshold(0.5) == "0.5");
    for (analysis::Verdict verdict : analysis::allVerdicts)
        CHECK_THAT(rules, Contains("  " + analysis::verdictName(verdict) + " "));
}

TEST_CASE("docs/hdf5-schema.md and docs/studies.md list every verdict with the same rules", "[analysis][verdict][docs]") {
    for (const std::string document : {"docs/hdf5-schema.md", "docs/studies.md"}) {
        CAPTURE(document);
        std::ifstream file(std::string(GRADLAB_SOURCE_DIR) + "/" + document);
        REQUIRE(file);
        std::stringstream text;
        text << file.rdbuf();
        for (analysis::Verdict verdict : analysis::allVerdicts)
            CHECK_THAT(text.str(), Contains("| `" + analysis::verdictName(verdict) + "` | " +
                                            analysis::verdictRule(verdict) + " |"));
    }
}
