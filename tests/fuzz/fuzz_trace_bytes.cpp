// libFuzzer target: `gradlab inspect` on arbitrary bytes as an HDF5 file (seed it with real traces: see
// README.md). Byte-level mutations of HDF5 mostly exercise libhdf5's own decoding (Debian's 1.10.8), whose bugs
// gradlab cannot fix; fuzz_trace mutates at the structural level to test gradlab's reader instead. The
// property is the same: diagnosed, or refused with gradlab::Error naming the file.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fuzz/trace_mutations.hpp"

namespace {

std::string* tracePath = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    const auto folder = base / ("gradlab-fuzz-trace-bytes-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder);
    tracePath = new std::string((folder / "trace.h5").string());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream file(*tracePath, std::ios::binary | std::ios::trunc);
        file.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    const gradlab::fuzz::TraceOutcome outcome = gradlab::fuzz::checkTraceInput(*tracePath);
    if (!outcome.violation.empty()) {
        std::fprintf(stderr, "fuzz_trace_bytes: property violated: %s\n", outcome.violation.c_str());
        std::abort();
    }
    return 0;
}
