// The run statuses of the trace schema: their on-disk names, parsing them back, and the rule of a finished run.
#include "trace/trace_schema.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

#include "gradlab/error.hpp"

using Catch::Matchers::Contains;
using gradlab::RunStatus;

TEST_CASE("every run status reads back from its name", "[trace][schema]") {
    std::set<std::string> names;
    for (const RunStatus status : gradlab::allRunStatuses) {
        const std::string name = gradlab::toString(status);
        CHECK(names.insert(name).second);
        REQUIRE(gradlab::parseRunStatus(name).has_value());
        CHECK(*gradlab::parseRunStatus(name) == status);
        CHECK(gradlab::requireRunStatus(name, "here") == status);
        std::ostringstream shown;
        shown << status;
        CHECK(shown.str() == name);
    }
    CHECK(names.size() == 7);
}

TEST_CASE("the status names are the documented on-disk text", "[trace][schema]") {
    // docs/hdf5-schema.md and docs/studies.md: traces and study indexes hold these bytes.
    CHECK(std::string(gradlab::toString(RunStatus::running)) == "running");
    CHECK(std::string(gradlab::toString(RunStatus::completed)) == "completed");
    CHECK(std::string(gradlab::toString(RunStatus::diverged)) == "diverged");
    CHECK(std::string(gradlab::toString(RunStatus::stopped)) == "stopped");
    CHECK(std::string(gradlab::toString(RunStatus::interrupted)) == "interrupted");
    CHECK(std::string(gradlab::toString(RunStatus::failed)) == "failed");
    CHECK(std::string(gradlab::toString(RunStatus::pending)) == "pending");
}

TEST_CASE("a text that names no status is refused", "[trace][schema]") {
    for (const char* text : {"", "complete", "Completed", "completed ", "unknown", "done"})
        CHECK_FALSE(gradlab::parseRunStatus(text).has_value());
    CHECK_THROWS_AS(gradlab::requireRunStatus("complete", "trace 'x.h5'"), gradlab::Error);
    CHECK_THROWS_WITH(gradlab::requireRunStatus("complete", "trace 'x.h5'"),
                      Contains("trace 'x.h5': unknown status 'complete'") && Contains("did you mean 'completed'?") &&
                          Contains("known: completed, diverged, failed, interrupted, pending, running, stopped"));
}

TEST_CASE("isFinishedStatus: completed, diverged and stopped runs reached their end", "[trace][schema]") {
    std::set<RunStatus> finished;
    for (const RunStatus status : gradlab::allRunStatuses)
        if (gradlab::isFinishedStatus(status)) finished.insert(status);
    CHECK(finished == std::set<RunStatus>{RunStatus::completed, RunStatus::diverged, RunStatus::stopped});
    CHECK(gradlab::isFinishedStatus(gradlab::parseRunStatus("stopped")));
    CHECK_FALSE(gradlab::isFinishedStatus(gradlab::parseRunStatus("interrupted")));
    CHECK_FALSE(gradlab::isFinishedStatus(gradlab::parseRunStatus("no such status")));
}
