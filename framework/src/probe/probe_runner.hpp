#pragma once
/// @file probe_runner.hpp
/// Runs a config's probes at their steps, each through a ProbeContext (gradlab/probe.hpp) that keeps training
/// untouched: tracing off and every buffer of the network (batch norm's running statistics) restored, the
/// training gradients swapped out for scratch ones (an O(1) swap), parameters restored bit for bit after a
/// ScopedPerturbation, and the probe batch drawn by a random stream of its own.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "data/dataset.hpp"
#include "gradlab/probe.hpp"
#include "model/loss.hpp"
#include "model/network.hpp"
#include "plugin/plugin_host.hpp"
#include "trace/trace_writer.hpp"

namespace gradlab {

/// The group a probe's tables live in: "/probes/<name>".
std::string probeGroup(const std::string& probeName);

/// The mean-field picture of `network` at its current parameters (call it at initialisation), for
/// ProbeContext::meanField(): the scan of RunTrace's /theory (dense layers and element-wise activations of
/// one kind), sigma_w^2 and sigma_b^2 measured on
/// every dense layer, q* and chi_1 from
/// theory::meanField, mu_1 and mu_2 by theory::gaussianExpectation at q*.
template <typename Scalar>
MeanFieldView meanFieldView(const RunConfig& config, Network<Scalar>& network, const PluginHost& host);

template <typename Scalar>
class HostProbeContext;

/// Every probe of one run, in one precision.
template <typename Scalar>
class ProbeRunner {
public:
    /// Makes each configured probe and its context; draws each probe batch. Throws ConfigError naming the
    /// probe's place in the config for a batch larger than its data, `from: eval` without validation data, or
    /// an unknown layer in `from: [...]`. requires: network at initialisation (for meanField()).
    ProbeRunner(const RunConfig& config, const PluginHost& host, Network<Scalar>& network, Loss<Scalar>& loss,
                const data::Dataset& train, const data::Dataset& validation);
    ~ProbeRunner();
    ProbeRunner(const ProbeRunner&) = delete;
    ProbeRunner& operator=(const ProbeRunner&) = delete;

    /// Whether any probe is configured.
    bool empty() const { return probes_.empty(); }

    /// Runs every probe scheduled at `step` (training updates so far; `end`: the run's last step is done, for
    /// at_end) and commits one row of each one's tables to `writer`; `learningRate` is the rate of the update
    /// that follows (ProbeContext::learningRate). Training state is as it was before.
    void observe(std::int64_t step, bool end, double learningRate, trace::TraceWriter& writer);

    /// Wall-clock seconds spent in probes so far, and the probe steps taken.
    double seconds() const { return seconds_; }
    std::int64_t observations() const { return observations_; }

private:
    struct Entry {
        ProbeConfig config;
        std::shared_ptr<Probe<Scalar>> probe;
        std::unique_ptr<HostProbeContext<Scalar>> context;
    };

    const RunConfig& config_;
    Network<Scalar>& network_;
    std::vector<Entry> probes_;
    std::vector<Buffer<Scalar>*> buffers_;   ///< every buffer of the network (restored after each probe step)
    std::vector<Matrix<Scalar>> savedBuffers_;
    std::vector<Matrix<Scalar>> trainingGradients_;  ///< where the training gradients wait during a probe step
    MeanFieldView meanField_;
    double seconds_ = 0;
    std::int64_t observations_ = 0;
};

}  // namespace gradlab
