// Item 1 of issue 16: a sweep whose parent is SIGKILLed and rerun at once ends, after its reruns, with every trace
// equal to an unfaulted sweep's (losses bit-equal) and every row of study.h5 right; two writers of one trace, or two
// sweeps of one study, are refused with the holder's pid; a completed trace that no longer reads is redone.
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faults/fault_support.hpp"
#include "study/study_index.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"
#include "util/file_lock.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using namespace gradlab::faults;

namespace {

using Clock = std::chrono::steady_clock;

/// 12 small runs (4 learning rates x 3 seeds), each 900 steps with a checkpoint every 300.
std::string writeStudy(const std::string& folder) {
    const std::string path = folder + "/study.yaml";
    writeFile(path, smallRunConfig("runs/x.h5", 900, 300) +
                        "sweep:\n  grid:\n    optimizer.lr: [0.05, 0.02, 0.01, 0.005]\n  seeds: 3\n"
                        "  name: \"lr{optimizer.lr},s{seed}\"\n");
    return path;
}

/// Starts `gradlab ARGUMENTS...` with its output going to `log`; returns its pid.
pid_t start(const std::vector<std::string>& arguments, const std::string& log) {
    std::vector<std::string> words{GRADLAB_BINARY};
    words.insert(words.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int file = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(file, STDOUT_FILENO);
        ::dup2(file, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

/// Waits for a file to appear (up to `seconds`); returns whether it did.
bool waitFor(const std::string& path, double seconds) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
        if (fs::exists(path)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

/// Checks that two traces hold the same datasets bit for bit and the same status; returns whether they do.
bool sameTrace(const std::string& expectedPath, const std::string& actualPath) {
    const trace::TraceReader expected(expectedPath), actual(actualPath);
    const std::vector<std::string> names = testing::listDatasets(expected);
    if (names != testing::listDatasets(actual)) return false;
    for (const std::string& name : names)
        if (testing::datasetBytes(expected, name) != testing::datasetBytes(actual, name)) {
            UNSCOPED_INFO(actualPath << ": " << name << " differs");
            return false;
        }
    return actual.stringAttribute("status") == expected.stringAttribute("status");
}

/// Checks that two study indexes say the same of every run; returns whether they do.
bool sameRows(const std::string& expectedPath, const std::string& actualPath) {
    const study::StudyIndex expected = study::readStudyIndex(expectedPath), actual = study::readStudyIndex(actualPath);
    if (expected.rows.size() != actual.rows.size()) return false;
    for (std::size_t i = 0; i < expected.rows.size(); ++i) {
        const study::StudyRow &a = expected.rows[i], &b = actual.rows[i];
        const bool same = a.name == b.name && a.status == b.status && a.verdict == b.verdict &&
                          a.divergedAt == b.divergedAt && a.trace == b.trace &&
                          std::memcmp(&a.finalLoss, &b.finalLoss, sizeof(double)) == 0;
        if (!same) {
            UNSCOPED_INFO(actualPath << ": row " << i << " (" << b.name << ") is " << b.status << " " << b.message);
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("a sweep killed at 20 random moments and rerun at once ends as an unfaulted one", "[faults][kill]") {
    const std::string folder = scratchFolder("sweep-kill");
    const std::string config = writeStudy(folder);
    const std::string reference = folder + "/reference";
    const auto began = Clock::now();
    const Ran unfaulted = runGradlab("sweep " + shellQuote(config) + " -j 2 -o " + shellQuote(reference), 300);
    const double duration = std::chrono::duration<double>(Clock::now() - began).count();
    INFO(unfaulted.output);
    REQUIRE(unfaulted.exitCode == 0);
    std::vector<std::string> names;
    for (const auto& row : study::readStudyIndex(reference + "/study.h5").rows) names.push_back(row.name);
    REQUIRE(names.size() == 12);

    std::mt19937 random(20261202);
    std::uniform_real_distribution<double> moment(0.02, duration);
    int trials = 0, survived = 0, reruns = 0;
    for (int trial = 0; trial < 20; ++trial) {
        const std::string study = folder + "/trial-" + std::to_string(trial);
        const double killAt = moment(random);
        const pid_t sweep = start({"sweep", config, "-j", "2", "-o", study}, folder + "/trial.log");
        std::this_thread::sleep_for(std::chrono::duration<double>(killAt));
        ::kill(sweep, SIGKILL);
        int status = 0;
        ::waitpid(sweep, &status, 0);
        // Rerun at once; runs still held by children that are dying are left alone and picked up by the next
        // rerun, so a few reruns may be needed (never a run done twice at once).
        Ran rerun;
        int attempts = 0;
        do {
            rerun = runGradlab("sweep " + shellQuote(config) + " -j 2 -o " + shellQuote(study), 300);
            ++attempts;
        } while (rerun.exitCode != 0 && rerun.output.find("running elsewhere") != std::string::npos && attempts < 5);
        reruns += attempts;
        INFO("trial " << trial << ", killed after " << killAt << " s\n" << readFile(folder + "/trial.log") << "\n"
                      << rerun.output);
        CHECK(rerun.exitCode == 0);
        bool same = rerun.exitCode == 0 && sameRows(reference + "/study.h5", study + "/study.h5");
        for (const std::string& name : names)
            same = same && sameTrace(reference + "/runs/" + name + ".h5", study + "/runs/" + name + ".h5");
        CHECK(same);
        ++trials;
        survived += same ? 1 : 0;
        fs::remove_all(study);
    }
    WARN("sweep parent SIGKILLed and rerun: " << trials << " trials, " << survived << " survived (every trace and row "
                                              << "equal to the unfaulted sweep's), " << trials - survived << " lost; "
                                              << reruns << " reruns; unfaulted sweep " << duration << " s");
}

TEST_CASE("two writers of one trace: the second is refused with the holder's pid", "[faults][kill]") {
    const std::string folder = scratchFolder("two-writers");
    const std::string trace = folder + "/run.h5";
    writeFile(folder + "/run.yaml", smallRunConfig(trace, 2000000, 0));
    const pid_t first = start({"run", folder + "/run.yaml", "-q"}, folder + "/first.log");
    REQUIRE(waitFor(trace, 60));
    const Ran second = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q");
    const Ran resumed = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume");
    ::kill(first, SIGKILL);
    int status = 0;
    ::waitpid(first, &status, 0);
    INFO(second.output << resumed.output);
    for (const Ran& ran : {second, resumed}) {
        CHECK(ran.exitCode == 1);
        CHECK(ran.output.find("being written by another process (pid " + std::to_string(first) + ",") !=
              std::string::npos);
    }
    // The killed holder's lock went with it: the next run takes the output.
    writeFile(folder + "/run.yaml", smallRunConfig(trace, 20, 0));
    const Ran after = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume");
    INFO(after.output);
    CHECK(after.exitCode == 0);
}

TEST_CASE("a sweep never starts a run whose trace is locked, and one sweep at a time per study", "[faults][kill]") {
    const std::string folder = scratchFolder("study-lock");
    writeFile(folder + "/long.yaml", smallRunConfig("runs/x.h5", 2000000, 0) + "sweep:\n  seeds: 2\n  name: \"s{seed}\"\n");
    const std::string study = folder + "/study";
    const pid_t sweep = start({"sweep", folder + "/long.yaml", "-j", "2", "-o", study}, folder + "/sweep.log");
    REQUIRE(waitFor(study + "/runs/s0.h5", 60));
    REQUIRE(waitFor(study + "/runs/s1.h5", 60));
    const Ran second = runGradlab("sweep " + shellQuote(folder + "/long.yaml") + " -o " + shellQuote(study));
    // A shard of the same study has its own index, so it may run beside it, but not its runs.
    const Ran shard = runGradlab("sweep " + shellQuote(folder + "/long.yaml") + " --shard 1/1 -o " + shellQuote(study));
    ::kill(sweep, SIGKILL);
    int status = 0;
    ::waitpid(sweep, &status, 0);
    // Its runs die with it (PR_SET_PDEATHSIG): their locks are released within moments.
    const auto end = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < end && (files::lockHolder(study + "/runs/s0.h5.lock") || files::lockHolder(study + "/runs/s1.h5.lock")))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK_FALSE(files::lockHolder(study + "/runs/s0.h5.lock"));
    CHECK_FALSE(files::lockHolder(study + "/runs/s1.h5.lock"));
    INFO(second.output << "\n" << shard.output);
    CHECK(second.exitCode == 1);
    CHECK(second.output.find("being written by another process (pid " + std::to_string(sweep) + ",") !=
          std::string::npos);
    CHECK(shard.exitCode == 1);
    CHECK(shard.output.find("not starting s0: running elsewhere (pid") != std::string::npos);
    CHECK(shard.output.find("not starting s1: running elsewhere (pid") != std::string::npos);
}

TEST_CASE("a completed trace that no longer reads is redone, not skipped", "[faults][kill]") {
    const std::string folder = scratchFolder("damaged-trace");
    writeFile(folder + "/study.yaml", smallRunConfig("runs/x.h5", 300, 0) + "sweep:\n  seeds: 2\n  name: \"s{seed}\"\n");
    const std::string study = folder + "/study";
    const Ran first = runGradlab("sweep " + shellQuote(folder + "/study.yaml") + " -o " + shellQuote(study));
    REQUIRE(first.exitCode == 0);
    const std::string trace = study + "/runs/s1.h5";
    fs::copy_file(trace, folder + "/s1-good.h5");
    // Zero the last chunk of /trace/signal_grad_norm, as a second writer or a full disk would leave it (the status
    // and the loss, which the index shows, still read).
    haddr_t address = 0;
    hsize_t size = 0;
    {
        const hid_t file = H5Fopen(trace.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        const hid_t dataset = H5Dopen2(file, "/trace/signal_grad_norm", H5P_DEFAULT);
        const hid_t space = H5Dget_space(dataset);
        hsize_t chunks = 0;
        REQUIRE(H5Dget_num_chunks(dataset, space, &chunks) >= 0);
        REQUIRE(chunks > 0);
        REQUIRE(H5Dget_chunk_info(dataset, space, chunks - 1, nullptr, nullptr, &address, &size) >= 0);
        H5Sclose(space);
        H5Dclose(dataset);
        H5Fclose(file);
    }
    {
        std::fstream stream(trace, std::ios::in | std::ios::out | std::ios::binary);
        stream.seekp(static_cast<std::streamoff>(address));
        const std::string zeros(size, '\0');
        stream.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    const Ran second = runGradlab("sweep " + shellQuote(folder + "/study.yaml") + " -o " + shellQuote(study));
    INFO(second.output);
    CHECK(second.exitCode == 0);
    // Named by whichever reader meets the damage first: the last-row check or the diagnosis reading the column.
    CHECK(second.output.find("rerunning s1: its trace is damaged (trace ") != std::string::npos);
    CHECK(second.output.find(trace + "': cannot read ") != std::string::npos);
    CHECK(second.output.find("'/trace/signal_grad_norm'") != std::string::npos);
    CHECK(second.output.find("1 already done") != std::string::npos);
    CHECK(sameTrace(folder + "/s1-good.h5", trace));
}
