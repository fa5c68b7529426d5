#include "training/schedule.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace gradlab;

TEST_CASE("learning-rate schedules: hand-computed factors", "[training][schedule]") {
    ScheduleConfig schedule;
    CHECK(scheduleFactor(schedule, 0, 100) == 1.0);
    CHECK(scheduleFactor(schedule, 99, 100) == 1.0);

    schedule.kind = "step";
    schedule.stepSize = 10;
    schedule.gamma = 0.5;
    CHECK(scheduleFactor(schedule, 9, 100) == 1.0);
    CHECK(scheduleFactor(schedule, 10, 100) == 0.5);
    CHECK(scheduleFactor(schedule, 35, 100) == 0.125);

    schedule.kind = "exponential";
    schedule.gamma = 0.9;
    CHECK(scheduleFactor(schedule, 2, 100) == Approx(0.81));

    schedule.kind = "cosine";
    schedule.minimumFactor = 0.1;
    CHECK(scheduleFactor(schedule, 0, 100) == Approx(1.0));
    CHECK(scheduleFactor(schedule, 50, 100) == Approx(0.1 + 0.9 * 0.5));
    CHECK(scheduleFactor(schedule, 100, 100) == Approx(0.1));

    schedule.warmupSteps = 4;
    CHECK(scheduleFactor(schedule, 0, 104) == 0.25);
    CHECK(scheduleFactor(schedule, 3, 104) == 1.0);
    CHECK(scheduleFactor(schedule, 4, 104) == Approx(1.0));          // cosine starts after warm-up
    CHECK(scheduleFactor(schedule, 54, 104) == Approx(0.55));
}
