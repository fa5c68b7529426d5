#pragma once
/// @file sequence_conformance.hpp
/// Gradient checks through time for recurrent layers, beyond the generic layer conformance test:
///  - against a plain reference implementation of the cell, written in the test, which also gives the
///    finite-difference reference of *truncated* BPTT (the layer's own forward cannot: it has no way to treat
///    the carried-in state as a constant);
///  - for a stack of layers chained by hand (e.g. lstm -> gru -> dense), full BPTT end to end.
/// Both use L = sum(R .* y) with R fixed random, float64 central differences (step 1e-6 max(1, |v|)) and the
/// conformance test's error measure |a - n| / max(|a| + |n|, 1e-3), which must stay below 1e-6.

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/layer.hpp"
#include "gradlab/module.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab::testing {

/// The built-in layer `yaml` (e.g. "{kind: lstm, units: 3}") in float64, not yet built.
std::shared_ptr<Layer<double>> makeLayer(const std::string& yaml);

/// The qualified names of `layer`'s parameters, in declaration order ("W_x", "W_h", "b", "activation.slope").
std::vector<std::string> parameterNames(Layer<double>& layer);

/// The logistic sigmoid 1 / (1 + exp(-a)), entrywise, for reference cells.
Eigen::ArrayXXd sigmoid(const Matrix<double>& a);

/// Parameter values by local name ("W_x", "W_hf", ...), as a reference implementation reads them.
using ParameterValues = std::map<std::string, Matrix<double>>;

/// A plain reference implementation of one recurrent cell. `step` computes the state s_t [stateRows x B] from
/// the parameters, the step's input x_t [F x B] and s_{t-1} (s_{-1} = 0); the layer's h_t is the first
/// `units` rows of s_t (s = [h; c] for an LSTM, s = h for rnn and gru).
struct ReferenceCell {
    /// next = s_t from the parameters, input = x_t and previous = s_{t-1}.
    std::function<void(const ParameterValues& parameters, const Matrix<double>& input, const Matrix<double>& previous,
                       Matrix<double>& next)>
        step;
    Index units = 0;      ///< rows of h_t, the layer's output per step
    Index stateRows = 0;  ///< rows of the whole state s_t
};

/// Builds the recurrent layer `yaml` for `input` (Shape{F, T}) in float64 with random parameters and checks, on a
/// batch of 3 sequences:
///  - forward: y equals the reference's h_{T-1} (or every h_t when the output has T timesteps) to 1e-12;
///  - gradients: dx and every parameter gradient equal the central differences of the truncated loss
///    L = sum_t R_t . h_t in which, when `truncate` = k > 0, the state entering each chunk [ck, (c+1)k) with
///    c > 0 is the constant s_{ck-1} of the unperturbed run (detach()); truncate = 0 is full BPTT.
///    `truncate` must be the layer's own option.
///  - with truncate = k > 0 and a last-step loss: dL/dx_t is exactly 0 before the last chunk and not inside it.
void checkAgainstReference(const std::string& yaml, const ReferenceCell& cell, const Shape& input, Index truncate);

/// Builds the layers `yamls` one after another from `input` in float64 with random parameters, chains
/// forward and backward by hand, and checks dL/dx and the gradient of every parameter of every layer against
/// central differences of L = sum(R .* y), on a batch of 3 sequences.
void checkStackGradients(const std::vector<std::string>& yamls, const Shape& input);

/// A StatisticsSink that keeps what a module reports, series by name.
class StatisticsRecorder : public StatisticsSink {
public:
    void add(const std::string& name, const double* values, Index count) override {
        series[name].assign(values, values + count);
    }
    /// The reported series, by name.
    std::map<std::string, std::vector<double>> series;
};

}  // namespace gradlab::testing
