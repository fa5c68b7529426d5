// Expanding a study's `sweep:` block: counts, order, names, and errors that point at the sweep key and value.
#include "study/sweep_plan.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"

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
