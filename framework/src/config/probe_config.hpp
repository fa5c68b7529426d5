#pragma once
/// @file probe_config.hpp
/// One entry of a run config's top-level `probes:` list: the probe plugin, its schedule and its batch.

#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/options.hpp"

namespace gradlab {

/// Where a probe batch is drawn from.
enum class ProbeSource { train, eval };

/// A probe and when it runs. Probe step s means "after s training updates": step 0 is at initialisation.
struct ProbeConfig {
    PluginSpec spec;                      ///< the probe plugin with its own options
    std::string name;                     ///< unique among the run's probes; its tables are /probes/<name>/
    std::int64_t every = 0;               ///< run at every step s with s % every == 0 (0: never by this rule)
    std::vector<std::int64_t> at;         ///< and at these steps
    bool atInit = false;                  ///< and at step 0
    bool atEnd = false;                   ///< and after the run's last step (a completed or stopped run)
    std::int64_t batch = 32;              ///< samples in the probe batch (at most the source's)
    bool fullBatch = false;               ///< `batch: all`: the probe batch is the whole source, in its order
    ProbeSource from = ProbeSource::train;
    std::vector<std::string> fromLayers;  ///< `from: [layer names]`: ProbeContext::fromLayers()
    std::string toLayer;                  ///< `to: <layer name>` (empty: the last layer): ProbeContext::toLayer()
    std::vector<std::int64_t> timesteps;  ///< `timesteps: [t...]`: ProbeContext::timesteps()

    /// Whether the probe runs at step s: between training steps, or (`end`) after the run's last step, s = the
    /// steps taken; `every` and `at` count there too (every: 100 over 500 steps runs at 0, 100, ..., 500).
    bool runsAt(std::int64_t step, bool end) const {
        if (end && atEnd) return true;
        if (step == 0 && atInit) return true;
        if (every > 0 && step % every == 0) return true;
        for (std::int64_t listed : at)
            if (listed == step) return true;
        return false;
    }
};

}  // namespace gradlab
