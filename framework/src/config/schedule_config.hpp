#pragma once
/// @file schedule_config.hpp
/// The `training.schedule` section of a run config: a learning-rate schedule (training/schedule.hpp evaluates it).

#include <cstdint>
#include <string>

namespace gradlab {

/// A schedule, read from `training.schedule`.
struct ScheduleConfig {
    std::string kind = "constant";   ///< constant | step | exponential | cosine
    std::int64_t warmupSteps = 0;    ///< linear warm-up from lr/warmup to lr over the first steps
    std::int64_t stepSize = 1000;    ///< step: decay every stepSize steps
    double gamma = 0.1;              ///< step: factor per decay; exponential: factor per step
    double minimumFactor = 0.0;      ///< cosine: the final learning rate as a fraction of the base
};

}  // namespace gradlab
