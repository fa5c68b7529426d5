#include "study/index_schedule.hpp"

#include <algorithm>
#include <sstream>
#include <string>

#include "gradlab/error.hpp"

namespace gradlab::study {

IndexSchedule::IndexSchedule(double maximumShare, double minimumInterval)
    : maximumShare_(maximumShare), minimumInterval_(minimumInterval) {
    std::ostringstream message;
    if (!(maximumShare > 0.0 && maximumShare <= 1.0))
        message << "index schedule: the share of time for index writes must be in (0, 1], got " << maximumShare;
    else if (!(minimumInterval >= 0.0))
        message << "index schedule: the interval between index writes must be >= 0 s, got " << minimumInterval;
    if (!message.str().empty()) throw Error(message.str());
}

double IndexSchedule::interval() const { return std::max(minimumInterval_, lastSeconds_ / maximumShare_); }

bool IndexSchedule::due(double now) const { return !writtenOnce_ || now - lastEnd_ >= interval(); }

void IndexSchedule::written(double now, double seconds) {
    writtenOnce_ = true;
    lastEnd_ = now;
    lastSeconds_ = std::max(0.0, seconds);
}

}  // namespace gradlab::study
