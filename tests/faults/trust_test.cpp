// Item 10 of issue 16: plugins are code; a plugin folder or library that other users can write is warned about on
// every command that loads it.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "faults/fault_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab::faults;

TEST_CASE("a plugin folder writable by others is warned about", "[faults][trust]") {
    const std::string folder = scratchFolder("writable-plugins");
    const std::string plugins = folder + "/plugins";
    fs::create_directories(plugins);
    // A copy of a real plugin library, as a user's own plugin folder would hold.
    const fs::path library = fs::path(GRADLAB_TEST_PLUGIN_DIR) / "fault_injection" / "libtest_plugin_fault_injection.so";
    REQUIRE(fs::exists(library));
    const std::string copy = plugins + "/libmy_plugin.so";
    fs::copy_file(library, copy);
    ::chmod(plugins.c_str(), 0755);
    ::chmod(copy.c_str(), 0644);
    const std::string warning = "is writable by other users";
    const Ran safe = runGradlab("plugins --plugin-path " + shellQuote(plugins));
    INFO(safe.output);
    CHECK(safe.output.find(warning) == std::string::npos);

    ::chmod(plugins.c_str(), 0777);
    const Ran folderOpen = runGradlab("plugins --plugin-path " + shellQuote(plugins));
    INFO(folderOpen.output);
    CHECK(folderOpen.output.find("plugin folder '" + plugins + "' " + warning) != std::string::npos);

    ::chmod(plugins.c_str(), 0755);
    ::chmod(copy.c_str(), 0666);
    const Ran libraryOpen = runGradlab("plugins --plugin-path " + shellQuote(copy));
    INFO(libraryOpen.output);
    CHECK(libraryOpen.output.find("plugin library '" + copy + "' " + warning) != std::string::npos);
}
