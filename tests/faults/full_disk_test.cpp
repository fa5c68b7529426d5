// Item 2 of issue 16: a disk that fills during a run, at whichever write comes first (a trace flush, a checkpoint,
// the final model), leaves the trace readable up to its last good flush with status `failed` and a message that
// the disk is full; after space is freed, `--resume` ends bit for bit as an uninterrupted run. On a real small
// file system: a tmpfs the test mounts (as root); skipped, with the reason, where mounting is not allowed.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "faults/fault_support.hpp"
#include "gradlab/error.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using namespace gradlab::faults;

namespace {

/// A tmpfs of a given size mounted at a folder while alive.
class SmallDisk {
public:
    explicit SmallDisk(const std::string& folder) : folder_(folder) {}
    ~SmallDisk() {
        if (mounted_) ::umount2(folder_.c_str(), MNT_DETACH);
    }
    /// Mounts (or remounts) it with `kibibytes` of space; returns "" or why it cannot.
    std::string resize(long kibibytes) {
        const std::string options = "size=" + std::to_string(kibibytes) + "k,mode=0755";
        // In a mount namespace of this process (and the runs it starts), private to it: the tmpfs goes away with
        // the test, however the test ends.
        static const bool isolated = ::unshare(CLONE_NEWNS) == 0 &&
                                     ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
        (void)isolated;
        const unsigned long flags = mounted_ ? MS_REMOUNT : 0;
        if (::mount("tmpfs", folder_.c_str(), "tmpfs", flags, options.c_str()) != 0)
            return std::string("cannot mount a tmpfs at ") + folder_ + ": " + std::strerror(errno);
        mounted_ = true;
        return "";
    }

private:
    std::string folder_;
    bool mounted_ = false;
};

}  // namespace

TEST_CASE("a disk that fills during a run: failed, readable, and resumed bit for bit after space is freed",
          "[faults][disk]") {
    const std::string folder = scratchFolder("full-disk");
    const int steps = 15000;
    writeFile(folder + "/run.yaml", smallRunConfig("runs/unused.h5", steps, 500, 50));
    const std::string reference = folder + "/reference.h5";
    const Ran uninterrupted = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q -o " + shellQuote(reference));
    INFO(uninterrupted.output);
    REQUIRE(uninterrupted.exitCode == 0);
    const auto traceBytes = static_cast<long>(fs::file_size(reference));

    const std::string disk = folder + "/disk";
    fs::create_directories(disk);
    SmallDisk small(disk);
    const std::string reason = small.resize(2048);
    if (!reason.empty()) {
        WARN("skipped: " << reason << " (the test needs root and permission to mount)");
        return;
    }
    // Room for a part of the trace and its checkpoints, from a half to nearly all, so that the disk fills at
    // different writes (trace flushes, checkpoints, the final model); at least the 1 MiB write probe fits.
    REQUIRE(traceBytes > 2 * 1024 * 1024);
    int trials = 0, survived = 0, atFlushes = 0, atCheckpoints = 0, atModels = 0;
    const std::string trace = disk + "/run.h5";
    for (const double part : {0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99}) {
        const long kibibytes = std::max(1024L + 64, static_cast<long>(part * static_cast<double>(traceBytes) / 1024.0));
        for (const auto& entry : fs::directory_iterator(disk)) fs::remove_all(entry.path());
        REQUIRE(small.resize(kibibytes).empty());
        const Ran full = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q -o " + shellQuote(trace));
        INFO("tmpfs of " << kibibytes << " KiB for a trace of " << traceBytes / 1024 << " KiB\n" << full.output);
        ++trials;
        const bool atCheckpoint = full.output.find("checkpoint") != std::string::npos;
        const bool atModel = full.output.find("'/model") != std::string::npos;
        ++(atCheckpoint ? atCheckpoints : atModel ? atModels : atFlushes);
        bool ok = full.exitCode == 1 && (full.output.find("the disk is full") != std::string::npos ||
                                         full.output.find("No space left on device") != std::string::npos);
        CHECK(ok);
        try {
            const trace::TraceReader reader(trace);
            CHECK(reader.stringAttribute("status") == "failed");
            const std::string message = reader.stringAttribute("status_message");
            CHECK((message.find("the disk is full") != std::string::npos ||
                   message.find("No space left on device") != std::string::npos));
            // Every row it kept is the uninterrupted run's.
            const trace::TraceReader expected(reference);
            const Eigen::VectorXd losses = reader.readVector("/trace/loss");
            const Eigen::VectorXd all = expected.readVector("/trace/loss");
            REQUIRE(losses.size() <= all.size());
            CHECK(losses == all.head(losses.size()));
        } catch (const Error& error) {
            FAIL_CHECK("the trace does not read: " << error.what());
            ok = false;
        }
        // Space freed: the resumed run ends as if nothing happened.
        REQUIRE(small.resize(64 * 1024).empty());
        const Ran resumed =
            runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume -o " + shellQuote(trace));
        INFO(resumed.output);
        CHECK(resumed.exitCode == 0);
        ok = ok && resumed.exitCode == 0;
        if (resumed.exitCode == 0) {
            testing::checkSameTrace(reference, trace);
            const trace::TraceReader expected(reference), actual(trace);
            for (const std::string& name : testing::listDatasets(expected))
                ok = ok && testing::datasetBytes(expected, name) == testing::datasetBytes(actual, name);
        }
        survived += ok ? 1 : 0;
    }
    WARN("disk full during a run: " << trials << " trials, " << survived << " survived (failed cleanly, readable, "
                                    << "resumed bit for bit), " << trials - survived << " lost; the disk filled at "
                                    << atFlushes << " trace flushes, " << atCheckpoints << " checkpoints, " << atModels
                                    << " model writes");
}

TEST_CASE("a disk that fills at a checkpoint or at the final model: failed, readable, resumed bit for bit",
          "[faults][disk]") {
    // Large checkpoints (a wide layer with Adam's two moments) and a small trace: the disk fills at a checkpoint or
    // at the model, not at a trace flush. Without checkpoints and with a wider layer, the final model is the
    // largest write: the disk fills there.
    const auto [kind, config, sizes] = GENERATE(table<std::string, std::string, std::vector<long>>(
        {{"checkpoints",
          "name: wide\nseed: 5\ndata: {kind: teacher, samples: 128, inputs: 256, outputs: 2, hidden: [8]}\n"
          "model:\n  layers: [{kind: dense, units: 512}, tanh, {kind: dense, units: 2}]\n"
          "loss: mse\noptimizer: {kind: adam, lr: 1.0e-3}\ntraining: {steps: 600, batch_size: 32}\n"
          "trace: {every: 10, flush_every: 5}\ncheckpoint: {every: 100, seconds: 0}\noutput: runs/unused.h5\n",
          {1400L, 2200L, 2600L, 3000L, 3400L, 3800L, 4200L}},
         {"model",
          "name: wider\nseed: 5\ndata: {kind: teacher, samples: 128, inputs: 256, outputs: 2, hidden: [8]}\n"
          "model:\n  layers: [{kind: dense, units: 1024}, tanh, {kind: dense, units: 2}]\n"
          "loss: mse\noptimizer: {kind: adam, lr: 1.0e-3}\ntraining: {steps: 100, batch_size: 32}\n"
          "trace: {every: 10, flush_every: 5}\ncheckpoint: {enabled: false}\noutput: runs/unused.h5\n",
          {1100L, 1150L, 1200L}}}));
    INFO(kind);
    const std::string folder = scratchFolder("full-disk-" + kind);
    writeFile(folder + "/run.yaml", config);
    const std::string reference = folder + "/reference.h5";
    const Ran uninterrupted = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q -o " + shellQuote(reference));
    INFO(uninterrupted.output);
    REQUIRE(uninterrupted.exitCode == 0);

    const std::string disk = folder + "/disk";
    fs::create_directories(disk);
    SmallDisk small(disk);
    const std::string reason = small.resize(2048);
    if (!reason.empty()) {
        WARN("skipped: " << reason << " (the test needs root and permission to mount)");
        return;
    }
    int trials = 0, survived = 0, atCheckpoints = 0, atModels = 0, atOther = 0;
    const std::string trace = disk + "/run.h5";
    for (const long kibibytes : sizes) {
        for (const auto& entry : fs::directory_iterator(disk)) fs::remove_all(entry.path());
        REQUIRE(small.resize(kibibytes).empty());
        const Ran full = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q -o " + shellQuote(trace));
        INFO("tmpfs of " << kibibytes << " KiB\n" << full.output);
        if (full.exitCode == 0) continue;  // it fitted: not a trial
        ++trials;
        ++(full.output.find("checkpoint") != std::string::npos ? atCheckpoints
           : full.output.find("'/model") != std::string::npos ? atModels
                                                               : atOther);
        bool ok = full.exitCode == 1 && (full.output.find("the disk is full") != std::string::npos ||
                                         full.output.find("No space left on device") != std::string::npos);
        CHECK(ok);
        try {
            const trace::TraceReader reader(trace);
            CHECK(reader.stringAttribute("status") == "failed");
        } catch (const Error& error) {
            FAIL_CHECK("the trace does not read: " << error.what());
            ok = false;
        }
        for (const auto& entry : fs::directory_iterator(disk))
            CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
        REQUIRE(small.resize(64 * 1024).empty());
        const Ran resumed =
            runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume -o " + shellQuote(trace));
        INFO(resumed.output);
        CHECK(resumed.exitCode == 0);
        ok = ok && resumed.exitCode == 0;
        if (resumed.exitCode == 0) {
            testing::checkSameTrace(reference, trace);
            const trace::TraceReader expected(reference), actual(trace);
            for (const std::string& name : testing::listDatasets(expected))
                ok = ok && testing::datasetBytes(expected, name) == testing::datasetBytes(actual, name);
        }
        survived += ok ? 1 : 0;
    }
    CHECK(trials >= 3);
    if (kind == "model") CHECK(atModels >= 1);
    WARN("disk full at a checkpoint or the model (" << kind << " config): " << trials << " trials, " << survived << " survived, "
                                                   << trials - survived << " lost; the disk filled at " << atCheckpoints
                                                   << " checkpoints, " << atModels << " model writes, " << atOther
                                                   << " other writes");
}

namespace {

/// Fills the file system under `folder` to the last byte with a file `folder`/filler; returns its size.
long fillDisk(const std::string& folder) {
    const Ran filled = runShell("dd if=/dev/zero of=" + shellQuote(folder + "/filler") + " bs=4096 2>/dev/null; "
                                "dd if=/dev/zero of=" + shellQuote(folder + "/filler-tail") + " bs=1 2>/dev/null; true");
    (void)filled;
    return static_cast<long>(fs::file_size(folder + "/filler"));
}

/// Every completed trace of `study` has the reference study's losses, bit for bit.
bool sameTraces(const std::string& reference, const std::string& study) {
    bool same = true;
    for (const auto& entry : fs::directory_iterator(reference + "/runs")) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".h5" || name.find(".ckpt.") != std::string::npos) continue;
        INFO(name);
        const trace::TraceReader expected(entry.path().string()), actual(study + "/runs/" + name);
        CHECK(actual.stringAttribute("status") == "completed");
        const bool equal = testing::datasetBytes(expected, "/trace/loss") == testing::datasetBytes(actual, "/trace/loss");
        CHECK(equal);
        same = same && equal && actual.stringAttribute("status") == "completed";
    }
    return same;
}

}  // namespace

TEST_CASE("a disk that fills during a sweep (a trace, a log, the study index): failed naming the full disk, and "
          "rerun after space is freed equal to an unfaulted sweep",
          "[faults][disk]") {
    const std::string folder = scratchFolder("full-disk-sweep");
    const std::string config = folder + "/sweep.yaml";
    writeFile(config, smallRunConfig("runs/unused.h5", 1500, 500, 50) + "sweep:\n  seeds: 8\n");
    const std::string reference = folder + "/reference";
    const Ran unfaulted = runGradlab("sweep " + shellQuote(config) + " -j 1 -o " + shellQuote(reference), 300);
    INFO(unfaulted.output);
    REQUIRE(unfaulted.exitCode == 0);
    long studyBytes = 0;
    for (const auto& entry : fs::recursive_directory_iterator(reference))
        if (entry.is_regular_file()) studyBytes += static_cast<long>(entry.file_size());
    REQUIRE(studyBytes > 2 * 1024 * 1024);

    const std::string disk = folder + "/disk";
    fs::create_directories(disk);
    SmallDisk small(disk);
    const std::string reason = small.resize(2048);
    if (!reason.empty()) {
        WARN("skipped: " << reason << " (the test needs root and permission to mount)");
        return;
    }
    const std::string study = disk + "/study";
    const std::string sweep = "sweep " + shellQuote(config) + " -j 1 -o " + shellQuote(study);
    const auto failedCleanly = [](const Ran& ran) {
        return ran.exitCode == 1 && (ran.output.find("the disk is full") != std::string::npos ||
                                     ran.output.find("No space left on device") != std::string::npos) &&
               ran.output.find("terminate called") == std::string::npos;
    };
    const auto indexReads = [&] {
        const Ran inspected = runGradlab("inspect " + shellQuote(study + "/study.h5"));
        INFO(inspected.output);
        return inspected.exitCode == 0;
    };
    int trials = 0, survived = 0;

    SECTION("at the runs' traces and checkpoints: the disk smaller than the study") {
        for (const double part : {0.5, 0.75, 0.9, 0.97}) {
            for (const auto& entry : fs::directory_iterator(disk)) fs::remove_all(entry.path());
            const long kibibytes = std::max(1024L + 64, static_cast<long>(part * studyBytes / 1024.0));
            REQUIRE(small.resize(kibibytes).empty());
            const Ran full = runGradlab(sweep, 300);
            INFO("tmpfs of " << kibibytes << " KiB for a study of " << studyBytes / 1024 << " KiB\n" << full.output);
            if (full.exitCode == 0) continue;  // it fitted: not a trial
            ++trials;
            bool ok = failedCleanly(full);
            CHECK(ok);
            if (fs::exists(study + "/study.h5")) ok = indexReads() && ok;
            REQUIRE(small.resize(64 * 1024).empty());
            const Ran rerun = runGradlab(sweep, 300);
            INFO(rerun.output);
            CHECK(rerun.exitCode == 0);
            ok = ok && rerun.exitCode == 0 && sameTraces(reference, study) && indexReads();
            survived += ok ? 1 : 0;
        }
        CHECK(trials >= 3);
    }
    SECTION("at the study index and the logs: a finished study whose disk is then filled to the last byte") {
        REQUIRE(small.resize(64 * 1024).empty());
        REQUIRE(runGradlab(sweep, 300).exitCode == 0);
        // The index: a rerun that has nothing to run still rewrites study.h5.
        fillDisk(disk);
        const Ran atIndex = runGradlab(sweep, 300);
        INFO(atIndex.output);
        ++trials;
        bool ok = failedCleanly(atIndex) && atIndex.output.find("study.h5") != std::string::npos;
        CHECK(ok);
        ok = indexReads() && ok;  // the previous index, untouched
        for (const auto& entry : fs::directory_iterator(study))
            CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
        fs::remove(disk + "/filler");
        fs::remove(disk + "/filler-tail");
        const Ran rerun = runGradlab(sweep, 300);
        INFO(rerun.output);
        CHECK(rerun.exitCode == 0);
        ok = ok && rerun.exitCode == 0 && indexReads();
        survived += ok ? 1 : 0;

        // A log and a run config: one run to redo, and no room for its log.
        fs::remove(study + "/runs/seed=3.h5");
        fillDisk(disk);
        const Ran atLog = runGradlab(sweep, 300);
        INFO(atLog.output);
        ++trials;
        ok = failedCleanly(atLog);
        CHECK(ok);
        ok = indexReads() && ok;
        fs::remove(disk + "/filler");
        fs::remove(disk + "/filler-tail");
        const Ran redone = runGradlab(sweep, 300);
        INFO(redone.output);
        CHECK(redone.exitCode == 0);
        ok = ok && redone.exitCode == 0 && sameTraces(reference, study) && indexReads();
        survived += ok ? 1 : 0;
    }
    WARN("disk full during a sweep: " << trials << " trials, " << survived << " survived (failed naming the full "
                                      << "disk, index readable, rerun equal to the unfaulted sweep), "
                                      << trials - survived << " lost");
}
