// Item 8 of issue 16: a study folder moved or copied whole is still done: its runs' configs do not hold the folder's
// old location, so a rerun skips every finished run instead of redoing it ("config changed").
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "faults/fault_support.hpp"
#include "study/study_index.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using namespace gradlab::faults;

TEST_CASE("a moved or copied study folder reruns nothing", "[faults][moved]") {
    const std::string folder = scratchFolder("moved-study");
    writeFile(folder + "/study.yaml", smallRunConfig("runs/x.h5", 100, 0) + "sweep:\n  seeds: 4\n  name: \"s{seed}\"\n");
    const Ran first = runGradlab("sweep " + shellQuote(folder + "/study.yaml") + " -j 2 -o " + shellQuote(folder + "/s"));
    INFO(first.output);
    REQUIRE(first.exitCode == 0);
    fs::rename(folder + "/s", folder + "/t");
    fs::copy(folder + "/t", folder + "/u", fs::copy_options::recursive);
    int trials = 0, survived = 0;
    for (const std::string& moved : {folder + "/t", folder + "/u"}) {
        const Ran again = runGradlab("sweep " + shellQuote(folder + "/study.yaml") + " -j 2 -o " + shellQuote(moved));
        INFO(again.output);
        CHECK(again.exitCode == 0);
        const bool skipped = again.output.find("4 already done, 0 to run") != std::string::npos &&
                             again.output.find("rerunning") == std::string::npos;
        CHECK(skipped);
        ++trials;
        survived += skipped ? 1 : 0;
        for (const auto& row : study::readStudyIndex(moved + "/study.h5").rows)
            CHECK(row.status == RunStatus::completed);
    }
    WARN("moved/copied study folders: " << trials << " trials, " << survived << " kept every run, "
                                        << trials - survived << " reran");
}
