// Item 4 of issue 16: in a folder others can write to, a symbolic link planted at any name a run or a sweep writes
// (trace, checkpoint, their temporary files, the write probe, the lock, the sweep's logs, configs and index) must
// not make gradlab write through it: the link's target stays untouched, whatever happens to the run.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "faults/fault_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab::faults;

namespace {

constexpr const char* precious = "precious data of another file\n";

/// The pid the kernel gave last: the next processes get the ones after it.
long lastPid() {
    std::ifstream stream("/proc/sys/kernel/ns_last_pid");
    long pid = 0;
    stream >> pid;
    return pid;
}

/// Plants links `<name><suffix>` for the next `count` pids, as an attacker predicting "name.tmp-PID" would.
void plantForNextPids(const std::string& prefix, const std::string& target, int count) {
    const long first = lastPid() + 1;
    for (long pid = first; pid < first + count; ++pid) {
        std::error_code ignored;
        fs::create_symlink(target, prefix + std::to_string(pid), ignored);
    }
}

/// Counts the trials whose target survived, for the figure of the closing note.
struct Tally {
    int trials = 0, survived = 0;
    void add(bool ok) {
        ++trials;
        survived += ok ? 1 : 0;
    }
    ~Tally() { WARN("symbolic links planted: " << trials << " trials, " << survived << " targets untouched, "
                                              << trials - survived << " overwritten"); }
};

}  // namespace

TEST_CASE("links planted at the names of a run do not redirect its writes", "[faults][symlink]") {
    const std::string folder = scratchFolder("symlink-run");
    const std::string target = folder + "/victim.txt";
    const std::string trace = folder + "/shared/run.h5";
    const std::string config = folder + "/run.yaml";
    writeFile(config, smallRunConfig(trace, 600, 200));
    Tally tally;
    // Each planted name on its own, and all of them at once.
    const std::vector<std::string> names{trace, folder + "/shared/run.ckpt.h5", trace + ".lock", ""};
    for (const std::string& name : names) {
        fs::remove_all(folder + "/shared");
        fs::create_directories(folder + "/shared");
        writeFile(target, precious);
        if (!name.empty()) {
            fs::create_symlink(target, name);
        } else {
            fs::create_symlink(target, trace);
            fs::create_symlink(target, folder + "/shared/run.ckpt.h5");
        }
        // The names a predictable writer would use next: trace and checkpoint temporaries, the write probe.
        plantForNextPids(trace + ".tmp-", target, 100);
        plantForNextPids(folder + "/shared/run.ckpt.h5.tmp-", target, 100);
        plantForNextPids(folder + "/shared/.gradlab-write-test-", target, 100);
        const Ran ran = runGradlab("run " + shellQuote(config) + " -q");
        INFO("planted at " << (name.empty() ? "trace and checkpoint" : name) << "\n" << ran.output);
        const bool untouched = readFile(target) == precious;
        CHECK(untouched);
        tally.add(untouched);
        if (name == trace + ".lock") {
            CHECK(ran.exitCode == 1);
            CHECK(ran.output.find("symbolic link") != std::string::npos);
        } else {
            CHECK(ran.exitCode == 0);
        }
    }
}

TEST_CASE("links planted at the names of a sweep do not redirect its writes", "[faults][symlink]") {
    const std::string folder = scratchFolder("symlink-sweep");
    const std::string target = folder + "/victim.txt";
    const std::string study = folder + "/study";
    const std::string config = folder + "/sweep.yaml";
    writeFile(config, smallRunConfig("runs/x.h5", 300, 100) + "sweep:\n  grid:\n    optimizer.lr: [0.05, 0.01]\n  name: \"lr{optimizer.lr}\"\n");
    Tally tally;
    const Ran planned = runGradlab("sweep " + shellQuote(config) + " --plan");
    REQUIRE(planned.exitCode == 0);
    const std::string run = "lr0.05";
    REQUIRE(planned.output.find(run) != std::string::npos);
    const std::vector<std::string> names{study + "/logs/" + run + ".log", study + "/configs/" + run + ".yaml",
                                         study + "/study.h5", study + "/runs/" + run + ".h5",
                                         study + "/study.h5.lock"};
    for (const std::string& name : names) {
        fs::remove_all(study);
        for (const char* sub : {"logs", "configs", "runs"}) fs::create_directories(study + "/" + sub);
        writeFile(target, precious);
        fs::create_symlink(target, name);
        plantForNextPids(study + "/study.h5.tmp-", target, 100);
        const Ran ran = runGradlab("sweep " + shellQuote(config) + " -j 2 -o " + shellQuote(study));
        INFO("planted at " << name << "\n" << ran.output);
        const bool untouched = readFile(target) == precious;
        CHECK(untouched);
        tally.add(untouched);
        // A refusal names the link; otherwise the link was replaced by the real file.
        if (ran.exitCode != 0)
            CHECK(ran.output.find("symbolic link") != std::string::npos);
        else
            CHECK_FALSE(fs::is_symlink(name));
    }
}
