// Item 5 of issue 16: a FIFO (or a folder) where gradlab expects a regular file is refused with its name, never
// blocks; and the temporary files of a killed writer are removed by the next run of the same output.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "faults/fault_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab::faults;

namespace {

void makeFifo(const std::string& path) {
    fs::create_directories(fs::path(path).parent_path());
    REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
}

/// Every refusal must come within the time limit (a blocked open is killed, exit code -1) and name the path.
void checkRefused(const Ran& ran, const std::string& path, const std::string& kind) {
    INFO(ran.output);
    CHECK(ran.exitCode == 1);
    CHECK(ran.output.find(path) != std::string::npos);
    CHECK(ran.output.find(kind) != std::string::npos);
}

}  // namespace

TEST_CASE("a FIFO at a run's trace or checkpoint is refused before training", "[faults][special]") {
    const std::string folder = scratchFolder("fifo-run");
    const std::string trace = folder + "/out/run.h5", checkpoint = folder + "/out/run.ckpt.h5";
    writeFile(folder + "/run.yaml", smallRunConfig(trace));
    makeFifo(trace);
    checkRefused(runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q", 30), trace, "FIFO");
    checkRefused(runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume", 30), trace, "FIFO");
    fs::remove(trace);
    makeFifo(checkpoint);
    checkRefused(runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q", 30), checkpoint, "FIFO");
    checkRefused(runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume", 30), checkpoint, "FIFO");
    checkRefused(runGradlab("inspect " + shellQuote(checkpoint), 30), checkpoint, "FIFO");
}

TEST_CASE("a FIFO at a data file is refused", "[faults][special]") {
    const std::string folder = scratchFolder("fifo-data");
    makeFifo(folder + "/data.csv");
    makeFifo(folder + "/data.h5");
    for (const std::string& data : {std::string("data.csv"), std::string("data.h5")}) {
        writeFile(folder + "/run.yaml",
                  "data: {kind: " + std::string(data == "data.csv" ? "csv" : "hdf5") + ", file: " + data +
                      "}\nmodel: {layers: [{kind: dense, units: 1}]}\nloss: mse\noptimizer: {kind: sgd, lr: 0.1}\n"
                      "training: {steps: 1, batch_size: 1}\noutput: " + folder + "/run.h5\n");
        checkRefused(runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q", 30), folder + "/" + data, "FIFO");
    }
}

TEST_CASE("a FIFO or a folder at study.h5 is refused", "[faults][special]") {
    const std::string folder = scratchFolder("fifo-study");
    writeFile(folder + "/sweep.yaml", smallRunConfig("runs/x.h5", 50, 0) + "sweep:\n  seeds: 2\n");
    makeFifo(folder + "/study/study.h5");
    checkRefused(runGradlab("sweep " + shellQuote(folder + "/sweep.yaml") + " -o " + shellQuote(folder + "/study"), 30),
                 folder + "/study/study.h5", "FIFO");
    fs::remove(folder + "/study/study.h5");
    fs::create_directories(folder + "/study/study.h5");
    checkRefused(runGradlab("sweep " + shellQuote(folder + "/sweep.yaml") + " -o " + shellQuote(folder + "/study"), 30),
                 folder + "/study/study.h5", "folder");
    checkRefused(runGradlab("sweep --merge " + shellQuote(folder + "/study"), 30), folder + "/study/study.h5", "folder");
}

TEST_CASE("the temporary files of a killed writer are removed by the next run of the same output",
          "[faults][special]") {
    const std::string folder = scratchFolder("stale-temporaries");
    const std::string trace = folder + "/run.h5";
    writeFile(folder + "/run.yaml", smallRunConfig(trace, 100, 50));
    // What writers killed before their rename leave: old-style (pid) and new-style (pid and random) names.
    const std::vector<std::string> stale{trace + ".tmp-4242", trace + ".tmp-77-0123456789abcdef",
                                         folder + "/run.ckpt.h5.tmp-4243", folder + "/run.ckpt.h5.tmp-9-fedcba9876543210"};
    for (const std::string& path : stale) writeFile(path, "half-written\n");
    writeFile(folder + "/other.h5.tmp-1", "another output's\n");
    const Ran ran = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q");
    INFO(ran.output);
    CHECK(ran.exitCode == 0);
    for (const std::string& path : stale) CHECK_FALSE(fs::exists(path));
    CHECK(fs::exists(folder + "/other.h5.tmp-1"));

    writeFile(folder + "/sweep.yaml", smallRunConfig("runs/x.h5", 50, 0) + "sweep:\n  seeds: 2\n");
    writeFile(folder + "/study/study.h5.tmp-31337", "half-written\n");
    const Ran swept = runGradlab("sweep " + shellQuote(folder + "/sweep.yaml") + " -o " + shellQuote(folder + "/study"));
    INFO(swept.output);
    CHECK(swept.exitCode == 0);
    CHECK_FALSE(fs::exists(folder + "/study/study.h5.tmp-31337"));
}
