// Item 3 of issue 16: no binary of the build or of an installed tree may search the working folder (an empty
// RUNPATH/RPATH element) or a relative folder for its libraries: a library planted there would run its code.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "faults/fault_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab::faults;

namespace {

/// The RUNPATH and RPATH values of an ELF file's dynamic section, as `readelf -d` prints them.
std::vector<std::string> runPaths(const std::string& file) {
    const Ran ran = runShell("readelf -d " + shellQuote(file));
    INFO(ran.output);
    REQUIRE(ran.exitCode == 0);
    std::vector<std::string> paths;
    std::istringstream lines(ran.output);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("(RUNPATH)") == std::string::npos && line.find("(RPATH)") == std::string::npos) continue;
        const std::size_t open = line.find('['), close = line.rfind(']');
        REQUIRE(open != std::string::npos);
        REQUIRE(close != std::string::npos);
        paths.push_back(line.substr(open + 1, close - open - 1));
    }
    return paths;
}

/// The elements of a run path that are empty or relative ($ORIGIN-based ones are anchored to the file itself).
std::vector<std::string> unsafeElements(const std::string& runPath) {
    std::vector<std::string> unsafe;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = runPath.find(':', start);
        const std::string element = runPath.substr(start, end == std::string::npos ? std::string::npos : end - start);
        const bool anchored = !element.empty() && (element.front() == '/' || element.rfind("$ORIGIN", 0) == 0 ||
                                                   element.rfind("${ORIGIN}", 0) == 0);
        if (!anchored) unsafe.push_back(element.empty() ? "(empty: the working folder)" : element);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return unsafe;
}

/// Every ELF file (binary or shared library) under `folder`.
std::vector<std::string> elfFiles(const fs::path& folder) {
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
        if (!entry.is_regular_file()) continue;
        const std::string head = readFile(entry.path().string()).substr(0, 4);
        if (head == "\x7f" "ELF") files.push_back(entry.path().string());
    }
    return files;
}

void checkNoUnsafeRunPath(const std::vector<std::string>& files) {
    REQUIRE_FALSE(files.empty());
    for (const std::string& file : files)
        for (const std::string& runPath : runPaths(file)) {
            INFO(file << ": RUNPATH/RPATH [" << runPath << "]");
            CHECK(unsafeElements(runPath).empty());
        }
}

}  // namespace

TEST_CASE("the checker sees empty and relative run path elements", "[faults][runpath]") {
    CHECK(unsafeElements("/usr/lib/x86_64-linux-gnu/hdf5/serial").empty());
    CHECK(unsafeElements("$ORIGIN/../lib:/opt/x").empty());
    CHECK(unsafeElements("/usr/lib/x86_64-linux-gnu/hdf5/serial:").size() == 1);
    CHECK(unsafeElements(":/usr/lib").size() == 1);
    CHECK(unsafeElements("/a::/b").size() == 1);
    CHECK(unsafeElements("lib:/b").size() == 1);
}

TEST_CASE("the binary and the plugins of the build search no empty or relative folder", "[faults][runpath]") {
    std::vector<std::string> files{GRADLAB_BINARY};
    for (const std::string& plugin : elfFiles(GRADLAB_BUILTIN_PLUGIN_DIR)) files.push_back(plugin);
    for (const std::string& plugin : elfFiles(GRADLAB_TEST_PLUGIN_DIR)) files.push_back(plugin);
    checkNoUnsafeRunPath(files);
}

TEST_CASE("an installed tree searches no empty or relative folder", "[faults][runpath]") {
    const std::string prefix = scratchFolder("runpath-install");
    const Ran installed = runShell(shellQuote(GRADLAB_CMAKE_COMMAND) + " --install " + shellQuote(GRADLAB_BUILD_DIR) +
                                   " --prefix " + shellQuote(prefix));
    INFO(installed.output);
    REQUIRE(installed.exitCode == 0);
    const std::vector<std::string> files = elfFiles(prefix);
    CHECK(std::find(files.begin(), files.end(), prefix + "/bin/gradlab") != files.end());
    checkNoUnsafeRunPath(files);
}

TEST_CASE("a library planted in the working folder is not loaded", "[faults][runpath]") {
    // A libgomp.so.1 that is not a library at all: loading it would make `gradlab --version` fail.
    const std::string folder = scratchFolder("runpath-planted");
    writeFile(folder + "/libgomp.so.1", "not a library\n");
    writeFile(folder + "/libhdf5_serial.so.103", "not a library\n");
    const Ran ran = runShell("cd " + shellQuote(folder) + " && " + shellQuote(GRADLAB_BINARY) + " --version");
    INFO(ran.output);
    CHECK(ran.exitCode == 0);
    CHECK(ran.output.find("gradlab") != std::string::npos);
}
