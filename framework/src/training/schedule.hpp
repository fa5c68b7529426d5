#pragma once
/// @file schedule.hpp
/// Learning-rate schedules: the factor the optimizer's configured learning rate is multiplied by at a step.

#include <cstdint>
#include <string>

#include "config/schedule_config.hpp"

namespace gradlab {

/// The factor at `step` (0-based) of a run of `totalSteps`:
///  - warm-up (any kind): (step + 1) / warmupSteps for step < warmupSteps, then the schedule below on the
///    steps after warm-up (s = step - warmupSteps, S = totalSteps - warmupSteps);
///  - constant: 1; step: gamma^floor(s / stepSize); exponential: gamma^s;
///  - cosine (Loshchilov & Hutter 2017, no restarts): m + (1 - m) (1 + cos(pi s / S)) / 2, m = minimumFactor.
double scheduleFactor(const ScheduleConfig& schedule, std::int64_t step, std::int64_t totalSteps);

}  // namespace gradlab
