// The study table of `gradlab inspect STUDY`: detection, sorting, text and JSON.
#include "study/study_table.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "gradlab/error.hpp"
#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_writer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

study::StudyIndex depthStudy() {
    study::StudyIndex index;
    index.config = "sweep: {grid: {model.layers.0.repeat: [2, 10, 40]}}\n";
    index.configFile = "configs/studies/depth.yaml";
    index.createdAt = index.updatedAt = "2026-12-02T00:00:00Z";
    index.keys = {"model.layers.0.repeat", "model.layers.0.layers.1"};
    const double evals[3] = {0.02, 0.13, std::nan("")};
    const double ratios[3] = {0.31, 2.5e-6, 2e-25};
    const char* repeats[3] = {"2", "10", "40"};
    for (int i = 0; i < 3; ++i) {
        study::StudyRow row;
        row.name = std::string("repeat=") + repeats[i];
        row.index = i;
        row.status = i == 2 ? RunStatus::diverged : RunStatus::completed;
        row.verdict = i == 0 ? "healthy" : "vanishing";
        row.parameters = {repeats[i], i == 1 ? "batchnorm" : "identity"};
        row.metrics.finalEvalLoss = evals[i];
        row.metrics.bestEvalLoss = evals[i];
        row.metrics.signalRatioInit = ratios[i];
        row.divergedAt = i == 2 ? 7 : -1;
        row.trace = "runs/" + row.name + ".h5";
        index.rows.push_back(row);
    }
    // Stored in an order that is not the sorted one.
    std::swap(index.rows[0], index.rows[2]);
    return index;
}

std::vector<std::string> names(const study::StudyIndex& index) {
    std::vector<std::string> result;
    for (const auto& row : index.rows) result.push_back(row.name);
    return result;
}

}  // namespace

TEST_CASE("study table: sorting by metric, by swept key (short or full) and by text", "[study][inspect]") {
    const study::StudyIndex index = depthStudy();
    CHECK(names(study::sortedStudy(index, "")) == std::vector<std::string>{"repeat=40", "repeat=10", "repeat=2"});
    // Numbers as numbers, NaN last.
    CHECK(names(study::sortedStudy(index, "final_eval_loss")) ==
          std::vector<std::string>{"repeat=2", "repeat=10", "repeat=40"});
    CHECK(names(study::sortedStudy(index, "signal_ratio_init")) ==
          std::vector<std::string>{"repeat=40", "repeat=10", "repeat=2"});
    // "repeat" is unique among the swept keys' last parts; 2 < 10 < 40 as numbers, not as text.
    CHECK(names(study::sortedStudy(index, "repeat")) == std::vector<std::string>{"repeat=2", "repeat=10", "repeat=40"});
    CHECK(names(study::sortedStudy(index, "model.layers.0.repeat")) ==
          std::vector<std::string>{"repeat=2", "repeat=10", "repeat=40"});
    CHECK(names(study::sortedStudy(index, "verdict")).front() == "repeat=2");
    CHECK_THROWS_WITH(study::sortedStudy(index, "depth"), Contains("--sort depth: no such column") &&
                                                             Contains("final_eval_loss") && Contains("model.layers.0.repeat"));
}

TEST_CASE("study table: text and JSON show swept values, status, verdict, metrics and ratios", "[study][inspect]") {
    const study::StudyIndex index = depthStudy();
    const std::string text = study::formatStudyText("runs/depth/study.h5", index);
    // Short headings where unique: "repeat", and "layers.1" (a trailing index keeps its key).
    std::size_t at = 0;
    for (const char* heading : {"repeat", "layers.1", "status", "verdict", "eval_loss", "best_eval", "signal_init",
                                "diverged_at"}) {
        const std::size_t found = text.find(heading, at);
        CAPTURE(heading);
        REQUIRE(found != std::string::npos);
        at = found;
    }
    CHECK_THAT(text, Contains("2.5e-06"));
    CHECK_THAT(text, Contains("diverged "));
    CHECK_THAT(text, !Contains("timestep_init"));  // no run has a recurrent layer
    const std::string json = study::formatStudyJson("runs/depth/study.h5", index);
    CHECK_THAT(json, Contains("\"parameters\": {\"model.layers.0.repeat\": \"40\""));
    CHECK_THAT(json, Contains("\"final_eval_loss\": null"));
    CHECK_THAT(json, Contains("\"signal_ratio_init\": 2.5e-06"));
}

TEST_CASE("gradlab inspect takes a study folder or its study.h5 and sorts it", "[study][inspect][cli]") {
    const std::filesystem::path folder = testing::scratchPath("inspect_study");
    std::filesystem::create_directories(folder);
    study::writeStudyIndex((folder / "study.h5").string(), depthStudy());
    CHECK(study::isStudyIndex((folder / "study.h5").string()));
    CHECK_FALSE(study::isStudyIndex(folder.string()));
    CHECK_FALSE(study::isStudyIndex((folder / "missing.h5").string()));

    const testing::Outcome byFolder = testing::runGradlab("inspect " + folder.string() + " --sort repeat");
    CHECK(byFolder.exitCode == 0);
    const std::size_t two = byFolder.output.find("\n2 "), forty = byFolder.output.find("\n40 ");
    REQUIRE(two != std::string::npos);
    REQUIRE(forty != std::string::npos);
    CHECK(two < forty);
    const testing::Outcome json = testing::runGradlab("inspect " + (folder / "study.h5").string() + " --json");
    CHECK(json.exitCode == 0);
    CHECK_THAT(json.output, Contains("\"swept_keys\": [\"model.layers.0.repeat\", \"model.layers.0.layers.1\"]"));
    const testing::Outcome bad = testing::runGradlab("inspect " + folder.string() + " --sort nope");
    CHECK(bad.exitCode != 0);
    CHECK_THAT(bad.output, Contains("--sort nope: no such column"));
    const testing::Outcome empty = testing::runGradlab("inspect " + testing::scratchPath(""));
    CHECK(empty.exitCode != 0);
    CHECK_THAT(empty.output, Contains("folder without a study index"));
}
