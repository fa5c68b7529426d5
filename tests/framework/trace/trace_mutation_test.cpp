// `gradlab inspect`'s reader (trace/trace_reader, analysis/diagnosis) against seeded structural mutations of real
// traces and against truncated and foreign files: each input is diagnosed, or refused with gradlab's error type
// and a message naming the file. The libFuzzer target tests/fuzz/fuzz_trace.cpp checks the same property.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "fuzz/config_mutations.hpp"
#include "fuzz/trace_mutations.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

/// Structural mutations per seed trace, and truncations per seed trace.
constexpr int mutationsPerTrace = 300;
constexpr int truncationsPerTrace = 24;

const std::vector<std::string>& seedTraces() {
    static const std::vector<std::string> paths = fuzz::makeSeedTraces(
        std::string(GRADLAB_SOURCE_DIR) + "/configs", testing::scratchPath("seed-traces"), testing::builtinPlugins());
    return paths;
}

std::string fileNameOf(const std::string& path) { return std::filesystem::path(path).filename().string(); }

/// The trace at `path` after `write` changed a copy of the two-layer seed trace through the HDF5 API.
template <typename Write>
std::string editedTrace(const std::string& name, Write write) {
    const std::string path = testing::scratchPath(name);
    std::filesystem::copy_file(seedTraces().front(), path, std::filesystem::copy_options::overwrite_existing);
    trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    REQUIRE(file.valid());
    write(file.get());
    return path;
}

std::string refusal(const std::string& path) {
    const fuzz::TraceOutcome outcome = fuzz::checkTraceInput(path);
    INFO(outcome.violation);
    CHECK(outcome.violation.empty());
    CHECK_FALSE(outcome.read);
    return outcome.error;
}

}  // namespace

TEST_CASE("Seeded structural mutations of real traces are diagnosed or refused with a message naming the file",
          "[fuzz][trace]") {
    const auto& seeds = seedTraces();
    REQUIRE(seeds.size() == 5);
    const std::string path = testing::scratchPath("trace-mutation.h5");
    const auto start = std::chrono::steady_clock::now();
    std::size_t inputs = 0, read = 0, refused = 0;
    for (std::size_t seedIndex = 0; seedIndex < seeds.size(); ++seedIndex) {
        const std::string& seed = seeds[seedIndex];
        INFO("seed trace " << fileNameOf(seed));
        const fuzz::TraceOutcome unchanged = fuzz::checkTraceInput(seed);
        REQUIRE(unchanged.violation.empty());
        REQUIRE(unchanged.read);
        for (int index = 0; index < mutationsPerTrace + truncationsPerTrace; ++index) {
            std::filesystem::copy_file(seed, path, std::filesystem::copy_options::overwrite_existing);
            fuzz::SeededRandom random(1000003ull * (seedIndex + 1) + static_cast<std::uint64_t>(index));
            fuzz::TraceMutator<fuzz::SeededRandom> mutator(random);
            std::string log;
            if (index < mutationsPerTrace) {
                log = mutator.mutate(path, 1 + static_cast<int>(random.below(4)));
                if (random.chance(10)) log += mutator.truncate(path);
            } else {
                log = mutator.truncate(path);
            }
            const fuzz::TraceOutcome outcome = fuzz::checkTraceInput(path);
            ++inputs;
            (outcome.read ? read : refused)++;
            if (!outcome.violation.empty())
                FAIL(fileNameOf(seed) << ", mutation " << index << ": " << log << "\n" << outcome.violation);
        }
    }
    std::cout << "trace mutations: " << inputs << " inputs from " << seeds.size() << " real traces, " << read
              << " diagnosed, " << refused << " refused with a message naming the file, in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
    CHECK(read > inputs / 10);
    CHECK(refused > inputs / 10);
}

TEST_CASE("Truncated, empty and foreign files are refused with a message naming the file", "[fuzz][trace]") {
    const std::string seed = seedTraces().front();
    SECTION("truncated at any point") {
        const auto size = std::filesystem::file_size(seed);
        for (std::uintmax_t keep : {std::uintmax_t(0), std::uintmax_t(7), std::uintmax_t(512), size / 3, size / 2,
                                    size - 1}) {
            const std::string path = testing::scratchPath("truncated.h5");
            std::filesystem::copy_file(seed, path, std::filesystem::copy_options::overwrite_existing);
            std::filesystem::resize_file(path, keep);
            INFO("kept " << keep << " of " << size << " bytes");
            CHECK_THAT(refusal(path), Contains(path));
        }
    }
    SECTION("not HDF5") {
        const std::string path = testing::scratchPath("config-not-a-trace.h5");
        std::ofstream(path) << "name: x\n";
        CHECK_THAT(refusal(path), Contains("'" + path + "' is not an HDF5 file"));
    }
    SECTION("an HDF5 signature and then garbage") {
        const std::string path = testing::scratchPath("signature-only.h5");
        std::ofstream(path, std::ios::binary) << std::string("\x89HDF\r\n\x1a\n", 8) << std::string(600, '\x5a');
        CHECK_THAT(refusal(path), Contains(path));
    }
    SECTION("missing, or a folder") {
        CHECK_THAT(refusal(testing::scratchPath("missing.h5")), Contains("no such file"));
        CHECK_THAT(refusal(testing::scratchPath("")), Contains("it is a folder"));
    }
}

TEST_CASE("Trace inputs the fuzzers found are refused with a message, not a crash", "[fuzz][trace]") {
    SECTION("a scalar attribute holding several values (H5Aread would overflow the one it is read into)") {
        const std::string path = editedTrace("version-array.h5", [](hid_t file) {
            H5Adelete(file, "schema_version");
            const hsize_t dims[1] = {4};
            trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Screate_simple(1, dims, nullptr));
            trace::Hdf5Handle attribute = trace::Hdf5Handle::attribute(
                H5Acreate2(file, "schema_version", H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
            const std::int64_t values[4] = {1, 2, 3, 4};
            REQUIRE(H5Awrite(attribute.get(), H5T_NATIVE_INT64, values) >= 0);
        });
        CHECK_THAT(refusal(path), Contains("attribute 'schema_version' holds 4 values, expected one"));
    }
    SECTION("a dataset declaring far more elements than the file stores") {
        const std::string path = editedTrace("huge-loss.h5", [](hid_t file) {
            trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dopen2(file, "/trace/loss", H5P_DEFAULT));
            const hsize_t rows[1] = {hsize_t(1) << 40};
            REQUIRE(H5Dset_extent(dataset.get(), rows) >= 0);
        });
        CHECK_THAT(refusal(path), Contains("declares 1099511627776 elements"));
    }
    SECTION("a group whose symbol table is damaged (the message did not name the file)") {
        // A real trace with bytes changed by fuzz_trace_bytes: listing /trace/timestep_grad_norm fails in libhdf5.
        const std::string path = testing::scratchPath("bad-symbol-table.h5");
        std::filesystem::copy_file(std::string(GRADLAB_SOURCE_DIR) + "/tests/fuzz/corpus/trace_bytes/bad_symbol_table_node.h5",
                                   path, std::filesystem::copy_options::overwrite_existing);
        const std::string message = refusal(path);
        CHECK_THAT(message, Contains(path));
        CHECK_THAT(message, Contains("cannot list group '/trace/timestep_grad_norm'"));
    }
    SECTION("fixed-length strings whose total size overflows") {
        const std::string path = editedTrace("huge-strings.h5", [](hid_t file) {
            H5Ldelete(file, "/meta/layer_names", H5P_DEFAULT);
            trace::Hdf5Handle type = trace::Hdf5Handle::datatype(H5Tcopy(H5T_C_S1));
            H5Tset_size(type.get(), std::size_t(1) << 20);
            const hsize_t dims[1] = {hsize_t(1) << 45}, maximum[1] = {H5S_UNLIMITED}, chunk[1] = {1};
            trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Screate_simple(1, dims, maximum));
            trace::Hdf5Handle properties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_DATASET_CREATE));
            H5Pset_chunk(properties.get(), 1, chunk);
            trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dcreate2(
                file, "/meta/layer_names", type.get(), space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT));
            REQUIRE(dataset.valid());
        });
        CHECK_THAT(refusal(path), Contains("'/meta/layer_names'"));
    }
}
