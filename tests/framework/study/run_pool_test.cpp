// The sweep's process pool with tiny children (/bin/true, /bin/false, /bin/sh): launch, reap, exit reasons, logs,
// and the signal that stops it.
#include "study/run_pool.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

std::string readText(const std::string& path) {
    std::ifstream stream(path);
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

/// Waits for every child of the pool (at most ~20 s), by job number.
std::map<std::size_t, study::ChildExit> reapAll(study::RunPool& pool) {
    std::map<std::size_t, study::ChildExit> exits;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (pool.running() > 0 && std::chrono::steady_clock::now() < deadline)
        if (const auto exit = pool.waitForExit(100)) exits.emplace(exit->job, *exit);
    return exits;
}

}  // namespace

TEST_CASE("the pool runs children and says how each ended", "[study][pool]") {
    const std::string log = testing::scratchPath("pool_exit.log");
    study::RunPool pool;
    pool.launch(7, {"/bin/true"}, log + ".true", false);
    pool.launch(8, {"/bin/false"}, log + ".false", false);
    pool.launch(9, {"/bin/sh", "-c", "kill -9 $$"}, log + ".killed", false);
    CHECK(pool.running() == 3);
    const auto exits = reapAll(pool);
    CHECK(pool.running() == 0);
    REQUIRE(exits.size() == 3);
    CHECK(exits.at(7).reason() == "exited with code 0");
    CHECK(exits.at(8).reason() == "exited with code 1");
    CHECK_THAT(exits.at(9).reason(), Contains("was killed by signal 9 ("));
    CHECK(exits.at(7).seconds >= 0);
    CHECK(pool.interruptSignal() == 0);
}

TEST_CASE("a child's output goes to its log, after its command line", "[study][pool]") {
    const std::string log = testing::scratchPath("pool_log.log");
    std::filesystem::remove(log);
    {
        study::RunPool pool;
        pool.launch(0, {"/bin/sh", "-c", "echo out; echo err >&2; read line || echo no-input"}, log, false);
        reapAll(pool);
    }
    CHECK(readText(log) == "# /bin/sh -c echo out; echo err >&2; read line || echo no-input\nout\nerr\nno-input\n");
    {
        study::RunPool pool;
        pool.launch(0, {"/bin/sh", "-c", "echo again"}, log, true);  // appended: the earlier run's output stays
        reapAll(pool);
    }
    CHECK_THAT(readText(log), Contains("no-input\n# /bin/sh -c echo again\nagain\n"));
    {
        study::RunPool pool;
        pool.launch(0, {"/bin/true"}, log, false);  // not appended: truncated
        reapAll(pool);
    }
    CHECK(readText(log) == "# /bin/true\n");
}

TEST_CASE("a program that cannot be executed exits with code 127, its log says so", "[study][pool][errors]") {
    const std::string log = testing::scratchPath("pool_missing.log");
    study::RunPool pool;
    pool.launch(0, {"/no/such/program"}, log, false);
    const auto exits = reapAll(pool);
    REQUIRE(exits.size() == 1);
    CHECK(exits.at(0).reason() == "exited with code 127");
    CHECK_THAT(readText(log), Contains("cannot execute"));
    CHECK_THROWS_AS(pool.launch(1, {"/bin/true"}, testing::scratchPath("no_such_folder/x.log"), false), Error);
    CHECK(pool.running() == 0);
}

TEST_CASE("SIGTERM to the parent is caught: the pool says so and stops its children", "[study][pool][signals]") {
    const std::string log = testing::scratchPath("pool_signal.log");
    study::RunPool pool;
    pool.launch(0, {"/bin/sleep", "30"}, log, false);
    CHECK(::kill(::getpid(), SIGTERM) == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pool.interruptSignal() == 0 && std::chrono::steady_clock::now() < deadline) pool.waitForExit(100);
    CHECK(pool.interruptSignal() == SIGTERM);
    pool.terminateAll();
    const auto exits = reapAll(pool);
    REQUIRE(exits.size() == 1);
    CHECK_THAT(exits.at(0).reason(), Contains("was killed by signal 15"));
}

TEST_CASE("a pool without children has nothing to wait for and returns at once", "[study][pool]") {
    study::RunPool pool;
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(pool.waitForExit(5000).has_value());
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
}
