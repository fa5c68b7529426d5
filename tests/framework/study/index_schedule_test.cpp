// When a sweep rewrites its study index: a bounded share of the sweep's time, so O(1) per finished run amortised.
#include "study/index_schedule.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>

#include "gradlab/error.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

/// What a sweep of `runs` runs does with its index under a schedule: `runSeconds` between finished runs, a rewrite
/// costing `secondsPerRow` for each of the `runs` rows; the index is written before the first run and after the
/// last, like the sweep does, and after a run when the schedule says so (no schedule: after every run, as the sweep
/// did before the schedule).
struct SimulatedSweep {
    std::int64_t writes = 0;
    double writeSeconds = 0.0;  ///< time spent rewriting the index
    double totalSeconds = 0.0;  ///< the whole sweep, runs and rewrites
};

SimulatedSweep simulate(std::int64_t runs, double runSeconds, double secondsPerRow,
                        std::optional<study::IndexSchedule> schedule) {
    SimulatedSweep sweep;
    double now = 0.0;
    const double write = secondsPerRow * static_cast<double>(runs);
    const auto rewrite = [&] {
        now += write;
        sweep.writeSeconds += write;
        ++sweep.writes;
        if (schedule) schedule->written(now, write);
    };
    rewrite();
    for (std::int64_t run = 0; run < runs; ++run) {
        now += runSeconds;
        if (!schedule || schedule->due(now)) rewrite();
    }
    rewrite();
    sweep.totalSeconds = now;
    return sweep;
}

}  // namespace

TEST_CASE("an index rewrite is due first at once, then after max(minimum interval, write time / share)",
          "[study][index]") {
    study::IndexSchedule schedule(0.02, 1.0);
    CHECK(schedule.due(0.0));
    schedule.written(10.0, 0.005);  // a cheap write: the minimum interval rules
    CHECK(schedule.interval() == Approx(1.0));
    CHECK_FALSE(schedule.due(10.5));
    CHECK(schedule.due(11.0));
    schedule.written(20.0, 0.5);  // an expensive one: 0.5 s / 2% = 25 s
    CHECK(schedule.interval() == Approx(25.0));
    CHECK_FALSE(schedule.due(44.9));
    CHECK(schedule.due(45.0));

    study::IndexSchedule free(1.0, 0.0);  // writes that cost nothing are due at once
    free.written(1.0, 0.0);
    CHECK(free.due(1.0));
}

TEST_CASE("with the default schedule, rewriting the index costs a bounded share of a sweep of any size",
          "[study][index]") {
    // Runs of 10 ms (-j 2 of the tiny benchmark config) and 10 us per row and rewrite (a 10^5-row index: 1 s).
    const double runSeconds = 0.01, secondsPerRow = 1e-5;
    const SimulatedSweep small = simulate(1000, runSeconds, secondsPerRow, study::IndexSchedule());
    const SimulatedSweep large = simulate(100000, runSeconds, secondsPerRow, study::IndexSchedule());
    // Rewriting after every run (the old schedule) costs O(runs^2): 10^4 rewrites of 0.1 s for 10^4 runs of 10 ms,
    // 10x the runs.
    const SimulatedSweep everyRun = simulate(10000, runSeconds, secondsPerRow, std::nullopt);
    CHECK(everyRun.writes == 10002);
    CHECK(everyRun.writeSeconds > 4 * 10000 * runSeconds);
    for (const SimulatedSweep& sweep : {small, large}) {
        // The two unconditional writes (start, end) plus at most 2% of the time.
        const double runsSeconds = sweep.totalSeconds - sweep.writeSeconds;
        CHECK(sweep.writeSeconds <= 0.02 * sweep.totalSeconds + 2 * secondsPerRow * runsSeconds / runSeconds + 1e-9);
    }
    // Per finished run, the index costs about the same at 10^5 runs as at 10^3 (O(1) amortised), with
    // large.writeSeconds / 10^5 ~ 2% of 10 ms.
    CHECK(large.writeSeconds / 100000 <= 0.03 * runSeconds);
    CHECK(small.writeSeconds / 1000 <= 0.03 * runSeconds);
    CHECK(large.writes >= 10);  // and it is still rewritten during the sweep, not only at its end
}

TEST_CASE("an index schedule refuses a share of time above 1 or not above 0, and a negative interval",
          "[study][index][errors]") {
    CHECK_THROWS_WITH(study::IndexSchedule(0.0, 1.0), Contains("must be in (0, 1], got 0"));
    CHECK_THROWS_WITH(study::IndexSchedule(1.5, 1.0), Contains("must be in (0, 1], got 1.5"));
    CHECK_THROWS_WITH(study::IndexSchedule(0.5, -1.0), Contains("must be >= 0 s, got -1"));
}
