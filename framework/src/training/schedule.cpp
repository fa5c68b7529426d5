#include "training/schedule.hpp"

#include <cmath>

namespace gradlab {

double scheduleFactor(const ScheduleConfig& schedule, std::int64_t step, std::int64_t totalSteps) {
    if (step < schedule.warmupSteps)
        return static_cast<double>(step + 1) / static_cast<double>(schedule.warmupSteps);
    const std::int64_t s = step - schedule.warmupSteps;
    const std::int64_t span = std::max<std::int64_t>(1, totalSteps - schedule.warmupSteps);
    if (schedule.kind == "step") return std::pow(schedule.gamma, static_cast<double>(s / schedule.stepSize));
    if (schedule.kind == "exponential") return std::pow(schedule.gamma, static_cast<double>(s));
    if (schedule.kind == "cosine") {
        const double progress = std::min(1.0, static_cast<double>(s) / static_cast<double>(span));
        return schedule.minimumFactor + (1.0 - schedule.minimumFactor) * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
    return 1.0;
}

}  // namespace gradlab
