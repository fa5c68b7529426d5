// The Slurm scripts of a study (study/slurm_script): their directives and commands, valid bash, paths with spaces
// and quotes that reach gradlab intact (run with stand-ins for sbatch and gradlab), and refused option values.
#include "study/slurm_script.hpp"

#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace fs = std::filesystem;

namespace {

std::string readText(const fs::path& path) {
    std::ifstream stream(path);
    return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

/// Runs a shell command line; returns its exit code and its output (stdout and stderr).
std::pair<int, std::string> runShell(const std::string& command) {
    std::string output;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

void writeExecutable(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
    fs::permissions(path, fs::perms::owner_all);
}

study::SlurmStudy exampleStudy() {
    study::SlurmStudy target;
    target.name = "depth";
    target.gradlab = "/opt/gradlab/bin/gradlab";
    target.config = "/home/ada/configs/studies/depth.yaml";
    target.folder = "/shared/ada/runs/depth";
    target.overrides = {"training.steps=100"};
    target.runs = 12;
    return target;
}

/// The lines of a script up to its first command (the part sbatch reads directives from).
std::vector<std::string> preamble(const std::string& script) {
    std::istringstream text(script);
    std::vector<std::string> lines;
    for (std::string line; std::getline(text, line);) {
        if (!line.empty() && line.front() != '#') break;
        lines.push_back(line);
    }
    return lines;
}

std::size_t countOf(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
    return count;
}

}  // namespace

TEST_CASE("Slurm scripts: the array runs shard i of N per task, the merge follows it, submit.sh queues both",
          "[study][slurm]") {
    study::SlurmOptions options;
    options.shards = 3;
    options.cpusPerTask = 4;
    options.time = "01:30:00";
    options.memory = "8G";
    options.partition = "short";
    options.account = "lab-42";
    options.maxRunning = 2;
    options.extraDirectives = {"--qos=long", "--mail-type=END"};
    const study::SlurmScripts scripts = study::makeSlurmScripts(exampleStudy(), options);

    SECTION("the array job") {
        const std::string& array = scripts.array;
        CHECK_THAT(array, StartsWith("#!/bin/bash\n"));
        const std::vector<std::string> directives = preamble(array);
        std::string sbatchLines;
        for (std::size_t i = 0; i < directives.size(); ++i)
            if (directives[i].rfind("#SBATCH ", 0) == 0) {
                sbatchLines += directives[i] + "\n";
                // Every directive is explained by the comment line above it.
                REQUIRE(i > 0);
                CHECK_THAT(directives[i - 1], StartsWith("# "));
            }
        CHECK(sbatchLines ==
              "#SBATCH --job-name=gradlab-depth\n"
              "#SBATCH --array=1-3%2\n"
              "#SBATCH --cpus-per-task=4\n"
              "#SBATCH --mem=8G\n"
              "#SBATCH --time=01:30:00\n"
              "#SBATCH --partition=short\n"
              "#SBATCH --account=lab-42\n"
              "#SBATCH --chdir=/shared/ada/runs/depth\n"
              "#SBATCH --qos=long\n"
              "#SBATCH --mail-type=END\n"
              "#SBATCH --output=/shared/ada/runs/depth/slurm/logs/array-%A_%a.out\n"
              "#SBATCH --open-mode=append\n");
        CHECK(countOf(array, "\n#SBATCH ") == 12);  // none after the first command, where sbatch would ignore it
        CHECK_THAT(array, Contains("\nSHARDS=3 "));
        CHECK_THAT(array, Contains("\nGRADLAB=/opt/gradlab/bin/gradlab "));
        CHECK_THAT(array, Contains("\nCONFIG=/home/ada/configs/studies/depth.yaml "));
        CHECK_THAT(array, Contains("\nSTUDY=/shared/ada/runs/depth "));
        CHECK_THAT(array, Contains("\nexec \"$GRADLAB\" sweep \"$CONFIG\" -o \"$STUDY\" --shard \"$shard/$SHARDS\" -j "
                                   "\"${SLURM_CPUS_PER_TASK:-1}\" --set training.steps=100\n"));
        CHECK_THAT(array, Contains("shard=\"${SLURM_ARRAY_TASK_ID:?"));
        CHECK_THAT(array, Contains("\nexport HDF5_USE_FILE_LOCKING=\"${HDF5_USE_FILE_LOCKING:-BEST_EFFORT}\"\n"));
    }
    SECTION("the merge job") {
        const std::string& merge = scripts.merge;
        CHECK_THAT(merge, StartsWith("#!/bin/bash\n"));
        std::string sbatchLines;
        for (const auto& line : preamble(merge))
            if (line.rfind("#SBATCH ", 0) == 0) sbatchLines += line + "\n";
        CHECK(sbatchLines ==
              "#SBATCH --job-name=gradlab-depth-merge\n"
              "#SBATCH --cpus-per-task=1\n"
              "#SBATCH --time=01:30:00\n"
              "#SBATCH --partition=short\n"
              "#SBATCH --account=lab-42\n"
              "#SBATCH --chdir=/shared/ada/runs/depth\n"
              "#SBATCH --qos=long\n"
              "#SBATCH --mail-type=END\n"
              "#SBATCH --output=/shared/ada/runs/depth/slurm/logs/merge-%j.out\n");
        CHECK(countOf(merge, "\n#SBATCH ") == 9);
        CHECK_THAT(merge, Contains("\nexec \"$GRADLAB\" sweep --merge \"$STUDY\"\n"));
        CHECK_THAT(merge, Contains("\nexport HDF5_USE_FILE_LOCKING=\"${HDF5_USE_FILE_LOCKING:-BEST_EFFORT}\"\n"));
    }
    SECTION("the submit script") {
        const std::string& submit = scripts.submit;
        CHECK(countOf(submit, "\n#SBATCH ") == 0);
        CHECK_THAT(submit, Contains("\n\"$GRADLAB\" sweep \"$CONFIG\" -o \"$STUDY\" --plan --set training.steps=100 > "
                                    "/dev/null\n"));
        CHECK_THAT(submit, Contains("array_job=$(sbatch --parsable \"$@\" \"$SLURM_DIR/array.sbatch\")\n"));
        CHECK_THAT(submit, Contains("merge_job=$(sbatch --parsable --dependency=\"afterany:$array_job\" "
                                    "\"$SLURM_DIR/merge.sbatch\")"));
    }
    SECTION("without resource options, only what the scripts need") {
        const study::SlurmScripts plain = study::makeSlurmScripts(exampleStudy(), study::SlurmOptions{});
        CHECK_THAT(plain.array, Contains("#SBATCH --array=1-12\n"));  // 12 runs, 1 core per task: one run per task
        CHECK_THAT(plain.array, Contains("#SBATCH --cpus-per-task=1\n"));
        for (const char* absent : {"--mem", "--time", "--partition", "--account", "--qos"}) {
            CHECK(plain.array.find(absent) == std::string::npos);
            CHECK(plain.merge.find(absent) == std::string::npos);
        }
    }
    SECTION("every script is valid bash") {
        const fs::path folder = testing::scratchPath("slurm_script_syntax");
        fs::create_directories(folder);
        for (const auto& [name, text] : {std::pair{"array.sbatch", scripts.array},
                                         {"merge.sbatch", scripts.merge},
                                         {"submit.sh", scripts.submit}}) {
            std::ofstream(folder / name) << text;
            const auto [code, output] = runShell("bash -n '" + (folder / name).string() + "'");
            INFO(name << ": " << output);
            CHECK(code == 0);
        }
    }
}

TEST_CASE("Slurm scripts: paths with spaces and quotes reach sbatch and gradlab intact", "[study][slurm]") {
    // Stand-ins: a gradlab that prints its arguments one per line, and an sbatch that records its arguments
    // and prints a job id the way `sbatch --parsable` does ("id;cluster").
    const fs::path base = fs::path(testing::scratchPath("slurm script quoting")) / "it's \"here\" $HOME";
    fs::remove_all(base.parent_path());
    fs::create_directories(base / "bin dir");
    const fs::path gradlab = base / "bin dir" / "gradlab";
    writeExecutable(gradlab,
                    "#!/bin/bash\nfor argument in \"$@\"; do printf '[%s]\\n' \"$argument\"; done | "
                    "tee -a \"$(dirname \"$0\")/gradlab-calls\"\n");
    writeExecutable(
        base / "bin dir" / "sbatch",
        "#!/bin/bash\n"
        "count=$(( $(cat \"$(dirname \"$0\")/count\" 2>/dev/null || echo 0) + 1 ))\n"
        "echo \"$count\" > \"$(dirname \"$0\")/count\"\n"
        "for argument in \"$@\"; do printf '[%s]\\n' \"$argument\"; done > \"$(dirname \"$0\")/sbatch-$count\"\n"
        "echo \"$((100 + count));cluster-a\"\n");
    // And a squeue that lists the jobs (id|work folder) written into its folder's file "queue".
    writeExecutable(base / "bin dir" / "squeue", "#!/bin/bash\ncat \"$(dirname \"$0\")/queue\" 2>/dev/null || true\n");

    study::SlurmStudy target;
    target.name = "a study";
    target.gradlab = gradlab.string();
    target.config = (base / "my config.yaml").string();
    target.folder = (base / "study folder").string();
    target.overrides = {"name=x y", "optimizer={kind: sgd, lr: 0.1}", "data.file=it's.csv"};
    target.pluginPath = {(base / "plug ins").string()};
    target.keepLogs = "failed";
    target.runs = 5;
    study::SlurmOptions options;
    options.shards = 2;
    options.cpusPerTask = 3;
    const study::SlurmScripts scripts = study::makeSlurmScripts(target, options);
    fs::create_directories(fs::path(target.folder) / "slurm");
    const fs::path slurm = fs::path(target.folder) / "slurm";
    writeExecutable(slurm / "array.sbatch", scripts.array);
    writeExecutable(slurm / "merge.sbatch", scripts.merge);
    writeExecutable(slurm / "submit.sh", scripts.submit);
    const std::string quotedSlurm = study::shellQuote(slurm.string());
    const std::string passed =
        "[--set]\n[name=x y]\n[--set]\n[optimizer={kind: sgd, lr: 0.1}]\n[--set]\n"
        "[data.file=it's.csv]\n[--plugin-path]\n[" +
        target.pluginPath[0] + "]\n[--keep-logs]\n[failed]\n";

    SECTION("the #SBATCH lines quote for sbatch's own parser") {
        CHECK_THAT(scripts.array, Contains("#SBATCH --job-name=\"gradlab-a study\"\n"));
        const std::string folder = "it's \\\"here\\\" $HOME/study folder";
        CHECK_THAT(scripts.array, Contains("/" + folder + "\"\n"));
        CHECK_THAT(scripts.array, Contains("#SBATCH --output=\"" + (base.parent_path() / "").string()));
        CHECK_THAT(scripts.array, Contains(folder + "/slurm/logs/array-%A_%a.out\"\n"));
        CHECK_THAT(scripts.merge, Contains(folder + "/slurm/logs/merge-%j.out\"\n"));
    }
    SECTION("an array task runs its shard with the task's cores") {
        const auto [code, output] =
            runShell("env SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_JOB_ID=7 SLURM_CPUS_PER_TASK=3 bash " + quotedSlurm +
                     "/array.sbatch");
        INFO(output);
        CHECK(code == 0);
        CHECK_THAT(output, Contains("gradlab shard 2/2 of " + target.folder + ": job 7_2 on "));
        CHECK_THAT(output, Contains("[sweep]\n[" + target.config + "]\n[-o]\n[" + target.folder +
                                    "]\n[--shard]\n[2/2]\n[-j]\n[3]\n" + passed));
    }
    SECTION("a task outside 1..N, or a run outside Slurm, is refused") {
        auto [code, output] = runShell("env SLURM_ARRAY_TASK_ID=3 bash " + quotedSlurm + "/array.sbatch");
        CHECK(code == 2);
        CHECK_THAT(output, Contains("task 3 is not a shard of 1..2"));
        std::tie(code, output) = runShell("env -u SLURM_ARRAY_TASK_ID bash " + quotedSlurm + "/array.sbatch");
        CHECK(code != 0);
        CHECK_THAT(output, Contains("SLURM_ARRAY_TASK_ID: is not set: submit this script with sbatch"));
        CHECK(output.find("[sweep]") == std::string::npos);
    }
    SECTION("the merge job merges the study folder") {
        const auto [code, output] = runShell("bash " + quotedSlurm + "/merge.sbatch");
        CHECK(code == 0);
        CHECK(output == "[sweep]\n[--merge]\n[" + target.folder + "]\n");
    }
    SECTION("submit.sh checks the config, queues the array with its arguments, then the merge after it") {
        const std::string path = "PATH=" + study::shellQuote((base / "bin dir").string()) + ":\"$PATH\"";
        const auto [code, output] = runShell(path + " bash " + quotedSlurm + "/submit.sh --array=2 --hold");
        INFO(output);
        REQUIRE(code == 0);
        CHECK(readText(base / "bin dir" / "gradlab-calls") ==
              "[sweep]\n[" + target.config + "]\n[-o]\n[" + target.folder + "]\n[--plan]\n" + passed);
        CHECK(output.find("[--plan]") == std::string::npos);  // the check's output goes to /dev/null
        CHECK_THAT(output, Contains("array job 101: 2 tasks (shards 1-2 of 5 runs), logs " + slurm.string() +
                                    "/logs/array-101_<shard>.out\n"));
        CHECK_THAT(output, Contains("merge job 102: after the array job ends, writes " + target.folder +
                                    "/study.h5, log " + slurm.string() + "/logs/merge-102.out\n"));
        CHECK(readText(base / "bin dir" / "sbatch-1") ==
              "[--parsable]\n[--array=2]\n[--hold]\n[" + (slurm / "array.sbatch").string() + "]\n");
        CHECK(readText(base / "bin dir" / "sbatch-2") ==
              "[--parsable]\n[--dependency=afterany:101]\n[" + (slurm / "merge.sbatch").string() + "]\n");
        CHECK(fs::is_directory(slurm / "logs"));
    }
    SECTION("submit.sh refuses while jobs of the study are queued or running, unless forced") {
        std::ofstream(base / "bin dir" / "queue")
            << "55|" << target.folder << "\n56_[1-2]|" << target.folder << "/other\n57|" << target.folder << "\n";
        const std::string path = "PATH=" + study::shellQuote((base / "bin dir").string()) + ":\"$PATH\"";
        auto [code, output] = runShell(path + " bash " + quotedSlurm + "/submit.sh");
        CHECK(code == 1);
        CHECK_THAT(output, Contains("submit.sh: jobs of this study are still queued or running: 55 57; wait until "
                                    "they end (or scancel them), then submit again"));
        CHECK_FALSE(fs::exists(base / "bin dir" / "sbatch-1"));
        std::tie(code, output) = runShell(path + " GRADLAB_SLURM_FORCE=1 bash " + quotedSlurm + "/submit.sh");
        CHECK(code == 0);
        CHECK_THAT(output, Contains("array job 101: "));
    }
    SECTION("submit.sh stops before queueing anything when the config check fails") {
        writeExecutable(gradlab, "#!/bin/bash\necho \"config error\" >&2\nexit 1\n");
        const std::string path = "PATH=" + study::shellQuote((base / "bin dir").string()) + ":\"$PATH\"";
        const auto [code, output] = runShell(path + " bash " + quotedSlurm + "/submit.sh");
        CHECK(code == 1);
        CHECK_THAT(output, Contains("config error"));
        CHECK_FALSE(fs::exists(base / "bin dir" / "sbatch-1"));
    }
}

TEST_CASE("Slurm options: bad values are refused, naming the option and what it expects", "[study][slurm][errors]") {
    struct Case {
        const char* what;
        std::function<void(study::SlurmOptions&)> set;
        const char* expected;
    };
    const std::vector<Case> cases{
        {"no cores", [](auto& o) { o.cpusPerTask = 0; }, "--slurm-cpus-per-task expects N >= 1 cores, got 0"},
        {"negative shards", [](auto& o) { o.shards = -2; }, "--slurm-shards expects N >= 1 array tasks, got -2"},
        {"negative limit", [](auto& o) { o.maxRunning = -1; }, "--slurm-max-running expects K >= 1"},
        {"time in hours", [](auto& o) { o.time = "2h"; },
         "--slurm-time expects a Slurm time limit (MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), got '2h'"},
        {"time with spaces", [](auto& o) { o.time = "1 day"; }, "got '1 day'"},
        {"memory unit", [](auto& o) { o.memory = "8GB"; }, "--slurm-mem expects memory per task as a number"},
        {"memory negative", [](auto& o) { o.memory = "-1"; }, "got '-1'"},
        {"partition with space", [](auto& o) { o.partition = "short queue"; },
         "--slurm-partition expects a partition name"},
        {"account with quote", [](auto& o) { o.account = "lab\"x"; }, "--slurm-account expects an account name"},
        {"directive without dash", [](auto& o) { o.extraDirectives = {"qos=long"}; },
         "--slurm-sbatch expects one sbatch option as it would follow '#SBATCH '"},
        {"directive with newline", [](auto& o) { o.extraDirectives = {"--qos=long\nrm -rf /"}; },
         "--slurm-sbatch expects one sbatch option"},
        {"directive setting the time", [](auto& o) { o.extraDirectives = {"--time=10"}; },
         "--slurm-sbatch '--time=10': the scripts set --time themselves; use --slurm-time"},
        {"directive setting the time, short", [](auto& o) { o.extraDirectives = {"-t 10"}; },
         "the scripts set -t themselves; use --slurm-time"},
        {"directive setting the array", [](auto& o) { o.extraDirectives = {"--array=1-4"}; },
         "the array is --array=1-N with N from --slurm-shards"},
        {"directive setting the output",
         [](auto& o) {
             o.extraDirectives = {"--output", "x"};
         },
         "the scripts set --output themselves"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        study::SlurmOptions options;
        c.set(options);
        CHECK_THROWS_WITH(study::validateSlurmOptions(options), Contains(c.expected));
        CHECK_THROWS_AS(study::makeSlurmScripts(exampleStudy(), options), study::SlurmOptionError);
    }
    for (const char* time : {"30", "30:00", "04:00:00", "2-00", "2-12:00", "1-00:00:00", "UNLIMITED"}) {
        study::SlurmOptions options;
        options.time = time;
        CHECK_NOTHROW(study::validateSlurmOptions(options));
    }
    for (const char* memory : {"500", "500M", "8G", "1t", "0"}) {
        study::SlurmOptions options;
        options.memory = memory;
        CHECK_NOTHROW(study::validateSlurmOptions(options));
    }

    SECTION("more shards than runs, and paths the scripts cannot hold") {
        study::SlurmOptions options;
        options.shards = 13;
        CHECK_THROWS_WITH(study::makeSlurmScripts(exampleStudy(), options),
                          "--slurm-shards expects at most the study's 12 runs (one shard or more per task), got 13");
        study::SlurmStudy target = exampleStudy();
        target.folder = "runs/depth";
        CHECK_THROWS_WITH(study::makeSlurmScripts(target, {}),
                          "--slurm: the study folder path must be absolute, got 'runs/depth'");
        target.folder = "/shared/100%/depth";
        CHECK_THROWS_WITH(study::makeSlurmScripts(target, {}), Contains("contains '%' or '\\', which Slurm reads as "
                                                                        "file name patterns"));
        target = exampleStudy();
        target.config = "/home/ada/a\nb.yaml";
        CHECK_THROWS_WITH(study::makeSlurmScripts(target, {}), Contains("contains a newline"));
        target = exampleStudy();
        target.overrides = {"name=a\nb"};
        CHECK_THROWS_WITH(study::makeSlurmScripts(target, {}), Contains("the override 'name=a"));
    }
}

TEST_CASE("Slurm scripts: the default shard count gives each task one wave of runs, at most 1000 tasks",
          "[study][slurm]") {
    CHECK(study::defaultSlurmShards(12, 1) == 12);
    CHECK(study::defaultSlurmShards(12, 4) == 3);
    CHECK(study::defaultSlurmShards(13, 4) == 4);
    CHECK(study::defaultSlurmShards(1, 8) == 1);
    CHECK(study::defaultSlurmShards(5000, 1) == 1000);
    study::SlurmStudy target = exampleStudy();
    target.runs = 3;
    study::SlurmOptions options;
    options.cpusPerTask = 2;
    CHECK_THAT(study::makeSlurmScripts(target, options).array, Contains("#SBATCH --array=1-2\n"));
}

TEST_CASE("shellQuote and sbatchQuote make one word of any text", "[study][slurm]") {
    CHECK(study::shellQuote("/a/b-c_d.yaml") == "/a/b-c_d.yaml");
    CHECK(study::shellQuote("lr=1e-3") == "lr=1e-3");
    CHECK(study::shellQuote("a b") == "'a b'");
    CHECK(study::shellQuote("it's") == "'it'\\''s'");
    CHECK(study::shellQuote("$HOME") == "'$HOME'");
    CHECK(study::shellQuote("") == "''");
    CHECK(study::sbatchQuote("/a/b%j.out") == "/a/b%j.out");
    CHECK(study::sbatchQuote("a b") == "\"a b\"");
    CHECK(study::sbatchQuote("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
    // Every quoted word reads back as itself in bash.
    for (const std::string text : {"a b", "it's", "$HOME `x` \"y\"", "tab\there", "{kind: sgd}"}) {
        const auto [code, output] = runShell("printf '%s' " + study::shellQuote(text));
        CHECK(code == 0);
        CHECK(output == text);
    }
}
