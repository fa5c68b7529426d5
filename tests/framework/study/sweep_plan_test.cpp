// Expanding a study's `sweep:` block: counts, order, names, and errors that point at the sweep key and value.
#include "study/sweep_plan.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <unistd.h>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_writer.hpp"
#include "util/file_lock.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

/// A small valid base config (17 lines); studies append a `sweep:` block from line 18 on.
const char* baseConfig = R"(name: small
seed: 4
data:
  kind: random_regression
  samples: 16
  inputs: 5
  outputs: 2
model:
  layers:
    - repeat: 2
      layers:
        - {kind: dense, units: 8, activation: tanh}
    - {kind: dense, units: 2}
optimizer: {kind: sgd, lr: 0.01}
training:
  steps: 10
  batch_size: 4
)";

std::string writeStudy(const std::string& name, const std::string& sweep) {
    const std::string path = testing::scratchPath(name);
    std::ofstream(path) << baseConfig << sweep;
    return path;
}

study::SweepPlan plan(const std::string& name, const std::string& sweep,
                      const std::vector<std::string>& overrides = {}) {
    return study::planSweep(writeStudy(name, sweep), overrides, testing::builtinPlugins());
}

std::vector<std::string> names(const study::SweepPlan& plan) {
    std::vector<std::string> result;
    for (const auto& run : plan.runs) result.push_back(run.name);
    return result;
}

}  // namespace

TEST_CASE("A sweep expands to grid x zip x seeds runs, the last grid key varying fastest", "[study]") {
    const study::SweepPlan sweep = plan("counts.yaml", R"(sweep:
  grid:
    model.layers.0.repeat: [2, 4, 8]
    model.layers.0.layers.0.activation: [sigmoid, tanh]
  zip:
    optimizer.lr: [0.1, 0.01]
    training.batch_size: [2, 8]
  seeds: 3
)");
    REQUIRE(sweep.runs.size() == 3 * 2 * 2 * 3);
    CHECK(sweep.keys == std::vector<std::string>{"model.layers.0.repeat", "model.layers.0.layers.0.activation",
                                                 "optimizer.lr", "training.batch_size"});
    CHECK(sweep.seedsSwept);
    for (std::size_t i = 0; i < sweep.runs.size(); ++i) CHECK(sweep.runs[i].index == static_cast<std::int64_t>(i));
    CHECK(sweep.runs[0].name == "repeat=2,activation=sigmoid,lr=0.1,batch_size=2,seed=0");
    CHECK(sweep.runs[1].name == "repeat=2,activation=sigmoid,lr=0.1,batch_size=2,seed=1");
    CHECK(sweep.runs[3].name == "repeat=2,activation=sigmoid,lr=0.01,batch_size=8,seed=0");
    CHECK(sweep.runs[6].name == "repeat=2,activation=tanh,lr=0.1,batch_size=2,seed=0");
    CHECK(sweep.runs.back().name == "repeat=8,activation=tanh,lr=0.01,batch_size=8,seed=2");
    CHECK(sweep.runs.back().seed == 2);
    CHECK(sweep.runs.back().valueOf("model.layers.0.repeat") == "8");
    CHECK(sweep.runs.back().valueOf("seed") == "2");
    const std::vector<std::string> all = names(sweep);
    CHECK(std::set<std::string>(all.begin(), all.end()).size() == all.size());

    // The settings become --set overrides after removing the sweep block.
    const std::vector<std::string> overrides = sweep.overridesFor(sweep.runs[1]);
    CHECK(overrides == std::vector<std::string>{"sweep=null", "model.layers.0.repeat=2",
                                                "model.layers.0.layers.0.activation=sigmoid", "optimizer.lr=0.1",
                                                "training.batch_size=2", "seed=1"});
}

TEST_CASE("Seeds: a count or a list, and one seed adds nothing to the name", "[study]") {
    study::SweepPlan sweep = plan("seeds_list.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1]\n  seeds: [0, 5, 9]\n");
    CHECK(names(sweep) == std::vector<std::string>{"lr=0.1,seed=0", "lr=0.1,seed=5", "lr=0.1,seed=9"});
    CHECK(sweep.runs[1].seed == 5);
    sweep = plan("seeds_one.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1, 0.2]\n  seeds: [7]\n");
    CHECK(names(sweep) == std::vector<std::string>{"lr=0.1", "lr=0.2"});
    CHECK(sweep.runs[0].seed == 7);
    sweep = plan("seeds_none.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1]\n");
    CHECK(sweep.runs[0].seed == 4);  // the base config's
    CHECK_FALSE(sweep.seedsSwept);
}

TEST_CASE("Keys sharing a last segment are told apart by more segments", "[study]") {
    const study::SweepPlan sweep = plan("labels.yaml", R"(sweep:
  grid:
    model.layers.0.layers.0.units: [3]
    model.layers.1.units: [5]
    optimizer.lr: [0.1]
    data.seed: [1]
  seeds: 2
)");
    CHECK(sweep.runs[0].name == "0.units=3,1.units=5,lr=0.1,data.seed=1,seed=0");
}

TEST_CASE("Values may be maps and lists, names stay file-safe", "[study]") {
    const study::SweepPlan sweep = plan("maps.yaml", R"(sweep:
  grid:
    optimizer: [{kind: sgd, lr: 0.1}, {kind: adam}]
    data.kind: [teacher]
    data.hidden: [[3, 4]]
)");
    REQUIRE(sweep.runs.size() == 2);
    CHECK(sweep.runs[0].name == "optimizer={kind:sgd,lr:0.1},kind=teacher,hidden=[3,4]");
    CHECK(sweep.runs[0].valueOf("optimizer") == "{kind: sgd, lr: 0.1}");
    CHECK(sweep.runs[1].valueOf("data.hidden") == "[3, 4]");
    CHECK(study::sanitizeRunName("a/b c\td") == "a_b_c_d");
    CHECK(study::sanitizeRunName("..") == "_.");
}

TEST_CASE("A name template names runs from key paths, short labels, {seed} and {index}", "[study]") {
    const study::SweepPlan sweep = plan("template.yaml", R"(sweep:
  grid:
    model.layers.0.repeat: [2, 4]
  seeds: 2
  name: "depth {repeat}/{model.layers.0.repeat} s{seed} #{index}"
)");
    CHECK(names(sweep) ==
          std::vector<std::string>{"depth_2_2_s0_#0", "depth_2_2_s1_#1", "depth_4_4_s0_#2", "depth_4_4_s1_#3"});
    CHECK_THROWS_WITH(plan("template_unknown.yaml", "sweep:\n  grid:\n    optimizer.lr: [1]\n  name: \"{lrr}\"\n"),
                      Contains("/template_unknown.yaml:21:9: sweep.name: unknown placeholder '{lrr}' in the name "
                               "template (did you mean 'lr'?"));
    CHECK_THROWS_WITH(plan("template_same.yaml", "sweep:\n  grid:\n    optimizer.lr: [1, 2]\n  name: fixed\n"),
                      Contains("template_same.yaml:21:9: sweep.name: runs 0 and 1 would both be named 'fixed'"));
}

TEST_CASE("A swept label names the runs' variants and changes nothing in their configs", "[study]") {
    const study::SweepPlan sweep = plan("label.yaml", R"(sweep:
  zip:
    label: [narrow, wide]
    model.layers.0.layers.0.units: [8, 16]
  name: "{label}"
)");
    CHECK(names(sweep) == std::vector<std::string>{"narrow", "wide"});
    CHECK(sweep.runs[1].valueOf("label") == "wide");
    const std::vector<std::string> overrides = sweep.overridesFor(sweep.runs[1]);
    CHECK(std::find(overrides.begin(), overrides.end(), "label=wide") == overrides.end());
    CHECK(std::find(overrides.begin(), overrides.end(), "model.layers.0.layers.0.units=16") != overrides.end());
    const std::string resolved =
        study::resolvedRunConfig(sweep, sweep.runs[1], "runs/wide.h5", testing::builtinPlugins());
    CHECK_THAT(resolved, !Contains("label"));
    CHECK_THAT(resolved, Contains("units: 16"));
    // Without a template the label is in the default name like any swept key.
    const study::SweepPlan unnamed =
        plan("label_default.yaml", "sweep:\n  grid:\n    label: [a, b]\n    optimizer.lr: [0.1]\n");
    CHECK(names(unnamed) == std::vector<std::string>{"label=a,lr=0.1", "label=b,lr=0.1"});
    CHECK_THROWS_WITH(plan("label_map.yaml", "sweep:\n  grid:\n    label: [{a: 1}]\n"),
                      Contains("label_map.yaml:20:13: sweep.grid.label.0: expected a label"));
}

TEST_CASE("Sweep errors name the sweep key, its value, and their line", "[study][errors]") {
    SECTION("a list index past the end points at the key") {
        CHECK_THROWS_WITH(plan("bad_index.yaml", "sweep:\n  grid:\n    model.layers.9.units: [3, 4]\n"),
                          Contains("/bad_index.yaml:20:5: sweep.grid.model.layers.9.units: index 9 is past the end "
                                   "of a list of 2"));
    }
    SECTION("an unknown key points at the key, with a did-you-mean") {
        CHECK_THROWS_WITH(plan("bad_key.yaml", "sweep:\n  grid:\n    model.layers.1.unitz: [3]\n"),
                          Contains("/bad_key.yaml:20:5: sweep.grid.model.layers.1.unitz: unknown key (did you mean "
                                   "'units'?"));
    }
    SECTION("a bad value points at the value and says which runs are invalid") {
        CHECK_THROWS_WITH(
            plan("bad_value.yaml", "sweep:\n  grid:\n    model.layers.1.units: [3, abc, -1]\n"),
            Contains("/bad_value.yaml:20:31: sweep.grid.model.layers.1.units: value abc: expected an integer, got "
                     "'abc'\n" +
                     testing::scratchPath("bad_value.yaml") +
                     ":20:36: sweep.grid.model.layers.1.units: value -1: option 'units' must be >= 1, got -1\n2 of 3 "
                     "runs have an invalid config; nothing ran"));
    }
    SECTION("a map value with a bad key inside") {
        CHECK_THROWS_WITH(
            plan("bad_map.yaml", "sweep:\n  grid:\n    optimizer: [{kind: sdg}]\n"),
            Contains("/bad_map.yaml:20:17: sweep.grid.optimizer: value {kind: sdg}: optimizer.kind: unknown "
                     "optimizer 'sdg' (did you mean 'sgd'?"));
    }
    SECTION("an error no single value causes names the runs") {
        CHECK_THROWS_WITH(plan("bad_combination.yaml", "sweep:\n  grid:\n    training.epochs: [1, 2]\n"),
                          Contains("training: give exactly one of 'steps' and 'epochs' [in 2 sweep runs, e.g. run 0 "
                                   "'epochs=1': training.epochs=1]"));
    }
    SECTION("zipped lists of different lengths") {
        CHECK_THROWS_WITH(
            plan("bad_zip.yaml",
                 "sweep:\n  zip:\n    optimizer.lr: [0.1, 0.01]\n    training.batch_size: "
                 "[2, 4, 8]\n"),
            Contains("/bad_zip.yaml:21:5: sweep.zip.training.batch_size: has 3 values but "
                     "sweep.zip.optimizer.lr has 2: zipped lists vary together and need the same length"));
    }
    SECTION("the sweep block's own keys are checked") {
        CHECK_THROWS_WITH(plan("bad_block.yaml", "sweep:\n  gird:\n    optimizer.lr: [0.1]\n"),
                          Contains("/bad_block.yaml:19:3: sweep.gird: unknown key (did you mean 'grid'?"));
        CHECK_THROWS_WITH(plan("bad_list.yaml", "sweep:\n  grid:\n    optimizer.lr: 0.1\n"),
                          Contains("/bad_list.yaml:20:19: sweep.grid.optimizer.lr: expected a list of values"));
        CHECK_THROWS_WITH(
            plan("bad_twice.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1]\n  zip:\n    optimizer.lr: [1]\n"),
            Contains("/bad_twice.yaml:22:5: sweep.zip.optimizer.lr: swept twice"));
        CHECK_THROWS_WITH(
            plan("bad_overlap.yaml", "sweep:\n  grid:\n    optimizer: [{kind: sgd}]\n    optimizer.lr: [1]\n"),
            Contains("sweep.grid.optimizer.lr: overlaps sweep.grid.optimizer"));
        CHECK_THROWS_WITH(plan("bad_seeds.yaml", "sweep:\n  seeds: 0\n"),
                          Contains("/bad_seeds.yaml:19:10: sweep.seeds: expected a number of seeds in [1, 100000]"));
        CHECK_THROWS_WITH(plan("bad_seed_twice.yaml", "sweep:\n  grid:\n    seed: [1, 2]\n  seeds: 2\n"),
                          Contains("sweep.grid.seed: 'seed' is swept by sweep.seeds already"));
        CHECK_THROWS_WITH(plan("bad_name_key.yaml", "sweep:\n  grid:\n    name: [a, b]\n"),
                          Contains("sweep.grid.name: 'name' is set by the study for each run"));
    }
    SECTION("a study needs traces") {
        CHECK_THROWS_WITH(plan("bad_trace.yaml", "sweep:\n  grid:\n    trace.enabled: [false]\n"),
                          Contains("sweep.grid.trace.enabled: value false: a study reads each run's outcome from its "
                                   "trace"));
    }
    SECTION("a config without a sweep block is a single run") {
        CHECK_THROWS_WITH(plan("no_sweep.yaml", ""),
                          Contains("no 'sweep:' block, so this is a single run: use 'gradlab run"));
    }
}

TEST_CASE("overrides with --set apply to the study config, sweep block included", "[study]") {
    const study::SweepPlan sweep = plan("overrides.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1, 0.2]\n",
                                        {"sweep.seeds=2", "training.steps=3"});
    CHECK(names(sweep) == std::vector<std::string>{"lr=0.1,seed=0", "lr=0.1,seed=1", "lr=0.2,seed=0", "lr=0.2,seed=1"});
    CHECK(sweep.overridesFor(sweep.runs[0]).front() == "sweep.seeds=2");
}

TEST_CASE("A run config read by gradlab run refuses the sweep block and points to gradlab sweep", "[study][errors]") {
    const std::string file = writeStudy("study_for_run.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1]\n");
    CHECK_THROWS_WITH(loadRunConfig(file, {}, testing::builtinPlugins()),
                      Contains("sweep: this is a study config (it has a sweep: block): run it with 'gradlab sweep"));
}

TEST_CASE("A run's resolved config is complete, names the run and keeps data files working", "[study]") {
    const std::filesystem::path folder = testing::scratchPath("resolved_study");
    std::filesystem::create_directories(folder / "data");
    std::ofstream(folder / "data" / "table.csv") << "x1,x2,y\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n";
    const std::string study = (folder / "study.yaml").string();
    std::ofstream(study) << R"(data: {kind: csv, file: data/table.csv}
model:
  layers: [{kind: dense, units: 1}]
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 2, batch_size: 2}
sweep:
  grid:
    optimizer.lr: [0.1, 0.2]
)";
    const study::SweepPlan sweep = study::planSweep(study, {}, testing::builtinPlugins());
    const std::string trace = (folder / "out" / "runs" / "lr=0.2.h5").string();
    const std::string text = study::resolvedRunConfig(sweep, sweep.runs[1], trace, testing::builtinPlugins());
    CHECK_THAT(text, Contains("name: lr=0.2"));
    CHECK_THAT(text, Contains("lr: 0.2"));
    CHECK_THAT(text, Contains("file: " +
                              std::filesystem::absolute(folder / "data" / "table.csv").lexically_normal().string()));
    CHECK_THAT(text, Contains("output: " + std::filesystem::path(trace).lexically_normal().string()));
    CHECK(text.find("sweep") == std::string::npos);

    // Written elsewhere, it is still a valid config whose data file is found.
    std::filesystem::create_directories(folder / "out" / "configs");
    const std::string written = (folder / "out" / "configs" / "lr=0.2.yaml").string();
    std::ofstream(written) << text;
    const RunConfig config = loadRunConfig(written, {}, testing::builtinPlugins());
    CHECK(config.name == "lr=0.2");
    CHECK(std::filesystem::exists(config.data.file));
}

TEST_CASE("describePlan lists index, name and overrides", "[study]") {
    const study::SweepPlan sweep =
        plan("describe.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1, 0.02]\n  seeds: 2\n");
    std::vector<const study::PlannedRun*> runs;
    for (const auto& run : sweep.runs) runs.push_back(&run);
    const std::string text = study::describePlan(runs);
    CHECK_THAT(text, StartsWith(" index  name            overrides\n"));
    CHECK_THAT(text, Contains("     3  lr=0.02,seed=1  optimizer.lr=0.02 seed=1\n"));
}

namespace {

/// A study folder for resume planning, emptied, with its configs/, runs/ and logs/.
study::StudyFolder resumeFolder(const std::string& name) {
    const study::StudyFolder folder{testing::scratchPath(name)};
    std::filesystem::remove_all(folder.root);
    folder.create();
    return folder;
}

/// A trace for `run` in `folder` that ended with `status` (none: left running, as a killed run leaves it).
void writeRunTrace(const study::StudyFolder& folder, const std::string& run, std::optional<RunStatus> status) {
    trace::TraceHeader header;
    header.precision = "float32";
    trace::TraceWriter writer(folder.trace(run).string(), header);
    trace::Table& table = writer.table("/trace");
    const trace::ColumnId loss = table.addColumn("loss");
    table.set(loss, 0.75);
    table.commit();
    if (status)
        writer.finish(*status, "as written", "2026-01-01T00:00:00Z");
    else
        writer.flush();
}

/// Writes the config the sweep would write for `run` (or `text` in its place).
void writeRunConfig(const study::StudyFolder& folder, const study::SweepPlan& sweep, const study::PlannedRun& run,
                    const std::string& text = "") {
    std::ofstream(folder.config(run.name))
        << (text.empty() ? study::resolvedRunConfig(sweep, run, "runs/" + run.name + ".h5", testing::builtinPlugins())
                         : text);
}

}  // namespace

TEST_CASE("A new study index has a pending row per run, with its swept values and files", "[study][resume]") {
    const study::SweepPlan sweep = plan("index_rows.yaml", "sweep: {grid: {optimizer.lr: [0.1, 0.2]}, seeds: 2}\n");
    const study::StudyIndex index = study::newStudyIndex(sweep, study::Shard{});
    CHECK(index.configFile == sweep.configFile);
    CHECK(index.config == sweep.configText);
    CHECK(index.keys == std::vector<std::string>{"optimizer.lr"});
    CHECK(index.shardIndex == 0);
    CHECK(index.shardCount == 0);
    CHECK(index.studyRuns() == 4);
    REQUIRE(index.rows.size() == 4);
    CHECK(index.rows[3].name == "lr=0.2,seed=1");
    CHECK(index.rows[3].index == 3);
    CHECK(index.rows[3].status == RunStatus::pending);
    CHECK(index.rows[3].trace == "runs/lr=0.2,seed=1.h5");
    CHECK(index.rows[3].log == "logs/lr=0.2,seed=1.log");
    CHECK(index.rows[3].seed == 1);
    CHECK(index.rows[3].parameters == std::vector<std::string>{"0.2"});
}

TEST_CASE("A shard's new index has the shard's own runs only", "[study][resume][shard]") {
    const study::SweepPlan sweep =
        plan("index_rows_shard.yaml", "sweep: {grid: {optimizer.lr: [0.1, 0.2, 0.3]}, seeds: 2}\n");
    const study::StudyIndex index = study::newStudyIndex(sweep, study::Shard{2, 4});
    CHECK(index.shardIndex == 2);
    CHECK(index.shardCount == 4);
    CHECK(index.runsTotal == 6);
    CHECK(index.studyRuns() == 6);
    REQUIRE(index.rows.size() == 2);  // runs 1 and 5
    CHECK(index.rows[0].index == 1);
    CHECK(index.rows[0].name == "lr=0.1,seed=1");
    CHECK(index.rows[1].index == 5);
    CHECK(index.rows[1].name == "lr=0.3,seed=1");
    CHECK(index.rowOf(5) == 1);
    CHECK(index.rows[1].parameters == std::vector<std::string>{"0.3"});
}

TEST_CASE("expandSweep lists the runs of a kept study config without reading a run's config", "[study][shard]") {
    // The model is not valid and the file does not exist: neither is looked at. The override is applied.
    const std::string text = "model: {layers: [{kind: nonsense}]}\nsweep: {grid: {optimizer.lr: [0.1, 0.2]}, seeds: 2}\n";
    const study::SweepPlan expanded = study::expandSweep("gone/study.yaml", text, {"sweep.seeds=[3, 8]"});
    CHECK(expanded.configText == text);
    CHECK(expanded.commandOverrides == std::vector<std::string>{"sweep.seeds=[3, 8]"});
    CHECK(expanded.keys == std::vector<std::string>{"optimizer.lr"});
    REQUIRE(expanded.runs.size() == 4);
    CHECK(expanded.runs[1].name == "lr=0.1,seed=8");
    CHECK(expanded.runs[1].seed == 8);
    CHECK(expanded.runs[2].name == "lr=0.2,seed=3");
    // The same names as planSweep gives the same text from a file.
    const std::string file = writeStudy("expand_same.yaml", "sweep: {grid: {optimizer.lr: [0.1, 0.2]}, seeds: 2}\n");
    const study::SweepPlan planned = study::planSweep(file, {"sweep.seeds=[3, 8]"}, testing::builtinPlugins());
    const study::SweepPlan again = study::expandSweep(file, planned.configText, {"sweep.seeds=[3, 8]"});
    REQUIRE(again.runs.size() == planned.runs.size());
    for (std::size_t run = 0; run < again.runs.size(); ++run) {
        CHECK(again.runs[run].name == planned.runs[run].name);
        CHECK(again.runs[run].seed == planned.runs[run].seed);
    }
    // A seed set in the grid reads as YAML reads it, decimal or not.
    const study::SweepPlan grid = study::expandSweep("g.yaml", "sweep: {grid: {seed: [12, 0x10, 0]}}\n", {});
    REQUIRE(grid.runs.size() == 3);
    CHECK(grid.runs[0].seed == 12);
    CHECK(grid.runs[1].seed == YAML::Load("0x10").as<std::uint64_t>());
    CHECK(grid.runs[2].seed == 0);
    // Without swept seeds the seed is unknown until a run's config is read: 0.
    CHECK(study::expandSweep("s.yaml", "sweep: {grid: {optimizer.lr: [0.1]}}\n", {}).runs[0].seed == 0);
    CHECK_THROWS_WITH(study::expandSweep("kept.yaml", "seed: 1\n", {}), Contains("kept.yaml: no 'sweep:' block"));
}

TEST_CASE("Resume planning skips finished runs, resumes killed ones and reruns the rest", "[study][resume]") {
    const study::SweepPlan sweep =
        plan("resume_cases.yaml", "sweep: {grid: {optimizer.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}}\n");
    REQUIRE(sweep.runs.size() == 8);
    const study::StudyFolder folder = resumeFolder("resume_cases");
    const auto& runs = sweep.runs;
    // 0: nothing yet. 1: completed, same config: done. 2: diverged, config changed since: rerun. 3: killed (status
    // running), same config: resumed. 4: interrupted, config changed: rerun afresh. 5: failed: rerun afresh.
    // 6: not a trace: damaged, rerun. 7: its lock is held: running elsewhere.
    writeRunConfig(folder, sweep, runs[1]);
    writeRunTrace(folder, runs[1].name, RunStatus::completed);
    writeRunConfig(folder, sweep, runs[2], "name: changed\n");
    writeRunTrace(folder, runs[2].name, RunStatus::diverged);
    writeRunConfig(folder, sweep, runs[3]);
    writeRunTrace(folder, runs[3].name, std::nullopt);
    writeRunConfig(folder, sweep, runs[4], "name: changed\n");
    writeRunTrace(folder, runs[4].name, RunStatus::interrupted);
    writeRunConfig(folder, sweep, runs[5]);
    writeRunTrace(folder, runs[5].name, RunStatus::failed);
    writeRunConfig(folder, sweep, runs[6]);
    std::ofstream(folder.trace(runs[6].name)) << "not a trace";
    const files::FileLock held(files::lockPathFor(folder.trace(runs[7].name).string()), "run 7");

    std::vector<const study::PlannedRun*> selected;
    for (const auto& run : runs) selected.push_back(&run);
    study::StudyIndex index = study::newStudyIndex(sweep, study::Shard{});
    const study::ResumePlan resume = study::planResume(sweep, selected, folder, index, testing::builtinPlugins());

    CHECK(resume.skipped == 1);
    CHECK(resume.resumed == 1);
    CHECK(resume.elsewhere == 1);
    std::vector<std::size_t> rows;
    std::vector<bool> resumed;
    for (const study::RunJob& job : resume.toRun) {
        rows.push_back(job.row);
        resumed.push_back(job.resume);
        CHECK(job.configPath == folder.config(runs[job.row].name));
        CHECK(job.tracePath == folder.trace(runs[job.row].name));
        CHECK(job.logPath == folder.log(runs[job.row].name));
        CHECK(job.config ==
              study::resolvedRunConfig(sweep, runs[job.row], "runs/" + runs[job.row].name + ".h5",
                                       testing::builtinPlugins()));
    }
    CHECK(rows == std::vector<std::size_t>{0, 2, 3, 4, 5, 6});
    CHECK(resumed == std::vector<bool>{false, false, true, false, false, false});

    CHECK(index.rows[1].status == RunStatus::completed);  // the skipped run's outcome, from its trace
    CHECK(index.rows[1].message == "as written");
    CHECK(index.rows[1].finalLoss == 0.75f);
    for (std::size_t row : rows) CHECK(index.rows[row].status == RunStatus::pending);
    CHECK_THAT(index.rows[7].message, Contains("running elsewhere (pid " + std::to_string(::getpid()) + ", lock '"));

    REQUIRE(resume.notes.size() == 3);
    CHECK(resume.notes[0] == "rerunning " + runs[2].name + ": its config changed since its trace was written");
    CHECK_THAT(resume.notes[1], StartsWith("rerunning " + runs[6].name + ": its trace is damaged ("));
    CHECK(resume.notes[2] == "not starting " + runs[7].name + ": " + index.rows[7].message);
}

TEST_CASE("Resume planning reruns a finished run whose trace is cut", "[study][resume]") {
    const study::SweepPlan sweep = plan("resume_cut.yaml", "sweep: {grid: {optimizer.lr: [0.1]}}\n");
    const study::StudyFolder folder = resumeFolder("resume_cut");
    writeRunConfig(folder, sweep, sweep.runs[0]);
    writeRunTrace(folder, sweep.runs[0].name, RunStatus::completed);
    // The header and status still read, the end of the file is gone.
    const auto size = std::filesystem::file_size(folder.trace(sweep.runs[0].name));
    std::filesystem::resize_file(folder.trace(sweep.runs[0].name), size * 2 / 3);
    study::StudyIndex index = study::newStudyIndex(sweep, study::Shard{});
    const study::ResumePlan resume =
        study::planResume(sweep, {&sweep.runs[0]}, folder, index, testing::builtinPlugins());
    REQUIRE(resume.toRun.size() == 1);
    CHECK_FALSE(resume.toRun[0].resume);
    CHECK(resume.skipped == 0);
    REQUIRE(resume.notes.size() == 1);
    CHECK_THAT(resume.notes[0], Contains("its trace is damaged"));
}

TEST_CASE("A shard validates its own runs only, and gives the others their seeds all the same", "[study][shard]") {
    // Runs 0..5: units 8 (runs 0, 1, 2) or -1 (runs 3, 4, 5, invalid) x three seeds; shard 1/3 owns runs 0 and 3.
    const std::string sweep = "sweep:\n  grid:\n    model.layers.1.units: [2, -1]\n  seeds: [5, 7, 9]\n";
    const std::string file = writeStudy("shard_validation.yaml", sweep);
    CHECK_THROWS_WITH(study::planSweep(file, {}, testing::builtinPlugins()),
                      Contains("3 of 6 runs have an invalid config"));
    CHECK_THROWS_WITH(study::planSweep(file, {}, testing::builtinPlugins(), study::Shard{1, 3}),
                      Contains("1 of 2 runs of shard 1/3 have an invalid config"));
    // Shard 3/3 owns runs 2 and 5; run 5 is invalid. A split of 6 owns runs 2 (valid) and 5 (invalid) apart.
    const study::SweepPlan shard = study::planSweep(file, {}, testing::builtinPlugins(), study::Shard{3, 6});
    REQUIRE(shard.runs.size() == 6);
    const std::vector<std::uint64_t> seeds{5, 7, 9, 5, 7, 9};
    for (std::size_t run = 0; run < 6; ++run) CHECK(shard.runs[run].seed == seeds[run]);

    // Without swept seeds, every run has the base config's seed (4), validated or not; a shard with no run of its
    // own (7 of 8 for 2 runs) still knows it.
    const std::string unseeded = writeStudy("shard_validation_base.yaml", "sweep:\n  grid:\n    optimizer.lr: [0.1, 0.2]\n");
    for (const study::Shard& selected : {study::Shard{1, 2}, study::Shard{7, 8}}) {
        const study::SweepPlan part = study::planSweep(unseeded, {}, testing::builtinPlugins(), selected);
        for (const auto& run : part.runs) CHECK(run.seed == 4);
    }
}
