// `gradlab sweep CONFIG --slurm` as a user meets it: the scripts it writes for a real study (into a folder with a
// space in its name), run by bash as Slurm would run them, and its usage errors. The same scripts on a real Slurm
// cluster: tests/cluster/slurm_cluster_test.sh.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "study/slurm_script.hpp"
#include "study/study_index.hpp"
#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

using gradlab::testing::Outcome;
using gradlab::testing::runGradlab;

std::string readText(const fs::path& path) {
    std::ifstream stream(path);
    return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

/// Runs a shell command line, capturing stdout and stderr.
Outcome runShell(const std::string& command) {
    Outcome outcome;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe)) outcome.output += buffer.data();
    const int status = ::pclose(pipe);
    outcome.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return outcome;
}

/// A 2 x 2 study over configs/two_layer.yaml (4 runs, two of which diverge), in a folder with a space.
fs::path writeStudy(const std::string& name) {
    const fs::path base = fs::path(testing::scratchPath(name)) / "my studies";
    fs::remove_all(base.parent_path());
    fs::create_directories(base);
    std::ofstream(base / "two layer.yaml")
        << readText(std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml")
        << "\nsweep:\n  grid:\n    optimizer.lr: [1.0e-6, 1.0e-2]\n    model.layers.0.units: [50, 100]\n";
    return base;
}

}  // namespace

TEST_CASE("gradlab sweep --slurm writes array, merge and submit scripts that run the study's shards",
          "[cli][study][slurm]") {
    const fs::path base = writeStudy("sweep_slurm");
    const std::string config = study::shellQuote((base / "two layer.yaml").string());
    const fs::path folder = base / "study one";
    Outcome outcome = runGradlab("sweep " + config +
                                 " --slurm --slurm-shards 2 --slurm-cpus-per-task 2 "
                                 "--slurm-time 10 --slurm-sbatch=--qos=debug -o " +
                                 study::shellQuote(folder.string()) + " --set training.steps=5");
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("study " + folder.string() +
                                        ": 4 runs in 2 shards (array tasks) of 2 runs, "
                                        "2 cores per task\n"));
    CHECK_THAT(outcome.output,
               Contains("submit (and resubmit after failures) with: '" + folder.string() + "/slurm/submit.sh'\n"));
    const fs::path slurm = folder / "slurm";
    for (const char* name : {"array.sbatch", "merge.sbatch", "submit.sh"}) {
        INFO(name);
        REQUIRE(fs::is_regular_file(slurm / name));
        CHECK((fs::status(slurm / name).permissions() & fs::perms::owner_exec) != fs::perms::none);
        CHECK(runShell("bash -n " + study::shellQuote((slurm / name).string())).exitCode == 0);
    }
    CHECK(fs::is_directory(slurm / "logs"));
    // It writes scripts and runs nothing.
    CHECK_FALSE(fs::exists(folder / "runs"));
    CHECK_FALSE(fs::exists(folder / "study.h5"));

    const std::string array = readText(slurm / "array.sbatch");
    CHECK_THAT(array, Contains("#SBATCH --array=1-2\n"));
    CHECK_THAT(array, Contains("#SBATCH --cpus-per-task=2\n"));
    CHECK_THAT(array, Contains("#SBATCH --time=10\n"));
    CHECK_THAT(array, Contains("#SBATCH --qos=debug\n"));
    CHECK_THAT(array, Contains("\nGRADLAB=" + study::shellQuote(GRADLAB_BINARY) + " "));
    CHECK_THAT(array, Contains("\nCONFIG=" + config + " "));  // absolute already: the scratch folder is
    CHECK_THAT(array, Contains("\nSTUDY=" + study::shellQuote(folder.string()) + " "));
    CHECK_THAT(array, Contains(" --set training.steps=5\n"));

    SECTION("bash runs each task's shard, the merge gives the same index as an unsharded sweep") {
        for (int task = 1; task <= 2; ++task) {
            outcome = runShell("env SLURM_ARRAY_TASK_ID=" + std::to_string(task) + " SLURM_CPUS_PER_TASK=2 bash " +
                               study::shellQuote((slurm / "array.sbatch").string()));
            INFO(outcome.output);
            CHECK(outcome.exitCode == 0);
            CHECK_THAT(outcome.output, Contains("2 runs (shard " + std::to_string(task) + "/2 of 4), 2 to run"));
        }
        outcome = runShell("bash " + study::shellQuote((slurm / "merge.sbatch").string()));
        INFO(outcome.output);
        REQUIRE(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("merged 2 of 2 shard indexes"));
        const fs::path whole = base / "whole";
        REQUIRE(runGradlab("sweep " + config + " -o " + study::shellQuote(whole.string()) + " --set training.steps=5")
                    .exitCode == 0);
        const study::StudyIndex expected = study::readStudyIndex((whole / "study.h5").string());
        const study::StudyIndex merged = study::readStudyIndex((folder / "study.h5").string());
        REQUIRE(merged.rows.size() == 4);
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(merged.rows[i].name == expected.rows[i].name);
            CHECK(merged.rows[i].status == expected.rows[i].status);
            CHECK(merged.rows[i].parameters == expected.rows[i].parameters);
            CHECK(((std::isnan(merged.rows[i].finalLoss) && std::isnan(expected.rows[i].finalLoss)) ||
                   merged.rows[i].finalLoss == expected.rows[i].finalLoss));
        }

        // A resubmitted task finds its runs done.
        outcome = runShell("env SLURM_ARRAY_TASK_ID=1 bash " + study::shellQuote((slurm / "array.sbatch").string()));
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("2 runs (shard 1/2 of 4), 2 already done, 0 to run"));
    }
    SECTION("writing them again for another split notes the stale shard indexes") {
        std::ofstream(folder / "study.shard-1-of-2.h5") << "stale";
        outcome = runGradlab("sweep " + config + " --slurm --slurm-shards 4 -o " + study::shellQuote(folder.string()) +
                             " --set training.steps=5");
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("4 runs in 4 shards (array tasks) of 1 run, 1 core per task"));
        CHECK_THAT(outcome.output, Contains("holds shard indexes of another split, which --merge refuses beside the "
                                            "new ones: remove them (finished runs keep their traces and are not "
                                            "redone): study.shard-1-of-2.h5\n"));
        CHECK_THAT(readText(slurm / "array.sbatch"), Contains("#SBATCH --array=1-4\n"));
    }
}

TEST_CASE("gradlab sweep --slurm: the default split, and the study folder's default", "[cli][study][slurm]") {
    const fs::path base = writeStudy("sweep_slurm_default");
    const std::string config = study::shellQuote((base / "two layer.yaml").string());
    const Outcome outcome = runShell("cd " + study::shellQuote(base.string()) + " && " + GRADLAB_BINARY + " sweep " +
                                     config + " --slurm --slurm-cpus-per-task 3");
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    // runs/<config stem>, made absolute; ceil(4 runs / 3 cores) = 2 tasks.
    CHECK_THAT(outcome.output, Contains("study " + (base / "runs" / "two layer").string() +
                                        ": 4 runs in 2 shards (array tasks) of 2 runs, 3 cores per task\n"));
    CHECK_THAT(readText(base / "runs" / "two layer" / "slurm" / "array.sbatch"), Contains("#SBATCH --array=1-2\n"));
}

TEST_CASE("gradlab sweep --slurm refuses bad options with exit code 2, naming them", "[cli][study][slurm][errors]") {
    const fs::path base = writeStudy("sweep_slurm_usage");
    const std::string config = study::shellQuote((base / "two layer.yaml").string());
    const std::string output = " -o " + study::shellQuote((base / "never").string());
    const std::vector<std::pair<std::string, std::string>> cases{
        {"--slurm --slurm-shards 5", "--slurm-shards expects at most the study's 4 runs"},
        {"--slurm --slurm-shards 0", "--slurm-shards expects N >= 1 array tasks, got 0"},
        {"--slurm --slurm-time 2h", "--slurm-time expects a Slurm time limit"},
        {"--slurm --slurm-mem lots", "--slurm-mem expects memory per task"},
        {"--slurm --slurm-cpus-per-task 0", "--slurm-cpus-per-task expects N >= 1 cores, got 0"},
        {"--slurm --slurm-max-running 0", "--slurm-max-running expects K >= 1 tasks at once, got 0"},
        {"--slurm --slurm-sbatch=--time=5", "the scripts set --time themselves; use --slurm-time"},
        {"--slurm --shard 1/2", "--slurm writes job scripts and runs nothing, so it takes no --shard"},
        {"--slurm -j 2", "so it takes no --jobs (set the cores per task with --slurm-cpus-per-task"},
        {"--slurm --plan", "so it takes no --plan"},
        {"--slurm-time 10", "--slurm-time is an option of --slurm, which is not given"},
        {"--slurm-cpus-per-task 2", "--slurm-cpus-per-task is an option of --slurm, which is not given"},
    };
    for (const auto& [options, expected] : cases) {
        const Outcome outcome = runGradlab("sweep " + config + " " + options + output);
        INFO(options << ": " << outcome.output);
        CHECK(outcome.exitCode == 2);
        CHECK_THAT(outcome.output, Contains(expected));
    }
    CHECK_FALSE(fs::exists(base / "never"));
    Outcome outcome = runGradlab("sweep --merge " + study::shellQuote((base / "never").string()) + " --slurm");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--merge STUDY_DIR takes no CONFIG and no other options"));

    // An invalid study config is a config error (exit code 1), found before any script is written.
    std::ofstream(base / "bad.yaml") << readText(base / "two layer.yaml") << "    optimizer.lrr: [1, 2]\n";
    outcome = runGradlab("sweep " + study::shellQuote((base / "bad.yaml").string()) + " --slurm" + output);
    CHECK(outcome.exitCode == 1);
    CHECK_FALSE(fs::exists(base / "never"));
}
