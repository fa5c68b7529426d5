// Item 7 of issue 16: a checkpoint damaged on disk (a flipped bit in tensor data, a zeroed block anywhere) is refused
// naming the file (and, for data, the dataset), never resumed from different parameters.
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/checkpoint.hpp"
#include "faults/fault_support.hpp"
#include "gradlab/error.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using namespace gradlab::faults;

namespace {

/// A real checkpoint: a long run interrupted (SIGTERM) once its first checkpoint exists.
std::string makeCheckpoint(const std::string& folder) {
    const std::string trace = folder + "/run.h5", checkpoint = folder + "/run.ckpt.h5";
    writeFile(folder + "/run.yaml", smallRunConfig(trace, 2000000, 100));
    const pid_t run = ::fork();
    REQUIRE(run >= 0);
    if (run == 0) {
        const int log = ::open((folder + "/run.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
        ::execl(GRADLAB_BINARY, GRADLAB_BINARY, "run", (folder + "/run.yaml").c_str(), "-q", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    for (int i = 0; i < 6000 && !fs::exists(checkpoint); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::kill(run, SIGTERM);
    int status = 0;
    ::waitpid(run, &status, 0);
    INFO(readFile(folder + "/run.log"));
    REQUIRE(fs::exists(checkpoint));
    return checkpoint;
}

/// Everything a resume restores from a checkpoint, as comparable bytes.
std::string fingerprint(const std::string& path) {
    const checkpoint::CheckpointReader checked(path);
    const trace::TraceReader reader(path, "checkpoint", checkpoint::schemaName, checkpoint::schemaVersion);
    const auto& state = checked.state();
    std::string bytes = state.config + '\0' + state.trace + '\0' + std::to_string(state.step) + ' ' +
                        std::to_string(state.batcherPosition) + ' ' + std::to_string(state.lastLoss) + '\0';
    for (const std::string& dataset : testing::listDatasets(reader)) bytes += dataset + testing::datasetBytes(reader, dataset);
    for (const char* group : {"/optimizer/integers", "/optimizer/reals", "/optimizer/randoms"})
        if (reader.hasGroup(group)) bytes += group;
    return bytes;
}

/// Where each chunk of every dataset lies in the file: [offset, offset + size).
std::vector<std::pair<haddr_t, hsize_t>> dataRegions(const std::string& path) {
    std::vector<std::pair<haddr_t, hsize_t>> regions;
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const trace::TraceReader reader(path, "checkpoint", checkpoint::schemaName, checkpoint::schemaVersion);
    for (const std::string& name : testing::listDatasets(reader)) {
        const hid_t dataset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
        const hid_t space = H5Dget_space(dataset);
        const hid_t creation = H5Dget_create_plist(dataset);
        hsize_t chunks = 0;
        if (H5Pget_layout(creation) == H5D_CHUNKED && H5Dget_num_chunks(dataset, space, &chunks) >= 0)
            for (hsize_t chunk = 0; chunk < chunks; ++chunk) {
                haddr_t address = 0;
                hsize_t size = 0;
                if (H5Dget_chunk_info(dataset, space, chunk, nullptr, nullptr, &address, &size) >= 0 && size > 0)
                    regions.emplace_back(address, size);
            }
        H5Pclose(creation);
        H5Sclose(space);
        H5Dclose(dataset);
    }
    H5Fclose(file);
    return regions;
}

}  // namespace

TEST_CASE("45 damaged checkpoints: none is resumed from other parameters", "[faults][checkpoint]") {
    const std::string folder = scratchFolder("checkpoint-corruption");
    const std::string pristine = makeCheckpoint(folder);
    const std::string expected = fingerprint(pristine);
    const std::string original = readFile(pristine);
    const auto regions = dataRegions(pristine);
    REQUIRE(regions.size() > 5);

    std::mt19937_64 random(45);
    int trials = 0, refusedNamingDataset = 0, refusedNamingFile = 0, harmless = 0, lost = 0;
    const std::string damaged = folder + "/damaged.ckpt.h5";
    for (int trial = 0; trial < 45; ++trial) {
        std::string bytes = original;
        const bool flip = trial < 30;
        std::string region;
        if (flip) {
            // One bit of tensor data (or of another dataset's stored chunk).
            const auto& [address, size] = regions[random() % regions.size()];
            const std::size_t at = static_cast<std::size_t>(address + random() % size);
            bytes[at] = static_cast<char>(bytes[at] ^ (1u << (random() % 8)));
            region = "bit flip at " + std::to_string(at);
        } else {
            // A zeroed 512-byte block anywhere in the file, as a bad sector gives back.
            const std::size_t at = static_cast<std::size_t>(random() % (bytes.size() / 512)) * 512;
            std::fill(bytes.begin() + static_cast<long>(at),
                      bytes.begin() + static_cast<long>(std::min(bytes.size(), at + 512)), '\0');
            region = "zeroed block at " + std::to_string(at);
        }
        writeFile(damaged, bytes);
        ++trials;
        try {
            const std::string got = fingerprint(damaged);
            if (got == expected)
                ++harmless;  // the damage hit bytes nothing reads (padding, free space): the same resume
            else {
                ++lost;
                FAIL_CHECK(region << ": accepted with different contents");
            }
        } catch (const Error& error) {
            const std::string message = error.what();
            INFO(region << ": " << message);
            CHECK(message.find(damaged) != std::string::npos);
            CHECK(message.find("written for another model or optimizer") == std::string::npos);
            if (message.find("dataset") != std::string::npos || message.find("'/") != std::string::npos)
                ++refusedNamingDataset;
            else
                ++refusedNamingFile;
            if (flip) CHECK(message.find("'/") != std::string::npos);
        }
    }
    CHECK(lost == 0);
    WARN("damaged checkpoints: " << trials << " trials, " << trials - lost << " survived (" << refusedNamingDataset
                                 << " refused naming the dataset, " << refusedNamingFile << " refused naming the file, "
                                 << harmless << " harmless), " << lost << " lost");
}

TEST_CASE("gradlab run --resume refuses a damaged checkpoint, naming the file and the dataset", "[faults][checkpoint]") {
    const std::string folder = scratchFolder("checkpoint-resume-damaged");
    const std::string checkpoint = makeCheckpoint(folder);
    std::string bytes = readFile(checkpoint);
    const auto regions = dataRegions(checkpoint);
    REQUIRE_FALSE(regions.empty());
    // The first chunk of the largest dataset: a parameter or its optimizer state.
    auto largest = *std::max_element(regions.begin(), regions.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
    bytes[static_cast<std::size_t>(largest.first + largest.second / 2)] ^= 0x10;
    writeFile(checkpoint, bytes);
    const Ran ran = runGradlab("run " + shellQuote(folder + "/run.yaml") + " -q --resume", 60);
    INFO(ran.output);
    CHECK(ran.exitCode == 1);
    CHECK(ran.output.find("checkpoint '" + checkpoint + "' is damaged: cannot read '/") != std::string::npos);
}
