#pragma once
/// @file index_schedule.hpp
/// When a running sweep rewrites its study index: the index is rewritten whole (to a temporary file, renamed over
/// the old one), which costs O(rows); rewriting it only once enough time has passed since the last rewrite keeps
/// that cost a bounded share of the sweep's time, so O(1) per finished run amortised (docs/studies.md, "Resuming").

namespace gradlab::study {

/// Decides whether an index rewrite is due after a run ends. A rewrite is due once at least
/// max(minimumInterval, lastWriteSeconds / maximumShare) seconds have passed since the last rewrite ended: with
/// writes of W seconds the index takes at most a share `maximumShare` of the sweep's time, whatever the study's size.
/// The sweep also writes its index before its first run and after its last, whatever the schedule says.
class IndexSchedule {
public:
    /// The share of the time rewriting may take by default (2%), and the shortest time between rewrites (1 s).
    static constexpr double defaultMaximumShare = 0.02;
    static constexpr double defaultMinimumInterval = 1.0;

    /// A schedule; `maximumShare` in (0, 1], `minimumInterval` >= 0 seconds (0 and 1: a rewrite after every run).
    explicit IndexSchedule(double maximumShare = defaultMaximumShare,
                           double minimumInterval = defaultMinimumInterval);

    /// Whether a rewrite is due at time `now` (seconds on a steady clock). True before the first recorded write.
    bool due(double now) const;

    /// Records a rewrite (or a failed attempt) that took `seconds` and ended at `now`.
    void written(double now, double seconds);

    /// The seconds between the last rewrite and the next one that is due.
    double interval() const;

private:
    double maximumShare_;
    double minimumInterval_;
    bool writtenOnce_ = false;
    double lastEnd_ = 0.0;
    double lastSeconds_ = 0.0;
};

}  // namespace gradlab::study
