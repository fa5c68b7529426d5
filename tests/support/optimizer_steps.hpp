#pragma once
/// @file optimizer_steps.hpp
/// Scaffolding shared by the optimizer tests: three hand-computed steps on one [1 x 2] slot, their comparison
/// with expected deltas, and the per-slot state check on two slots.

#include <memory>
#include <string>
#include <vector>

#include "gradlab/optimizer.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab::testing {

/// The [1 x 2] matrix [a, b].
Matrix<double> row(double a, double b);

/// Runs three steps of the optimizer `yaml` on one [1 x 2] slot with value w0 = [1, -2] and the gradients
/// g1 = [0.5, 1], g2 = [0.2, -0.4], g3 = [-1, 0] at `learningRate`; applies and returns the deltas (each
/// output starts at 1e9, so a delta added to rather than overwritten shows).
std::vector<Matrix<double>> threeSteps(const std::string& yaml, double learningRate);

/// Relative and absolute tolerance of checkDeltas (Catch's Approx epsilon and margin).
struct DeltaTolerance {
    double epsilon = 1e-12;  ///< relative
    double margin = 1e-15;   ///< absolute
};

/// Checks that `actual` has as many steps as `expected` and each step's two entries match within `tolerance`.
void checkDeltas(const std::vector<Matrix<double>>& actual, const std::vector<Matrix<double>>& expected,
                 DeltaTolerance tolerance = {});

/// The float optimizer `yaml` attached to slots "a" [1 x 1] and "b" [2 x 1], after the updates a (step 1,
/// constant gradient gradientA1), b (step 1, gradientB), a (step 2, gradientA2) at learning rate 1 on zero
/// values; the deltas are the last of each slot.
struct TwoSlotRun {
    std::shared_ptr<Optimizer<float>> optimizer;  ///< the optimizer, for further updates
    Matrix<float> valueA;                         ///< zero [1 x 1]
    Matrix<float> valueB;                         ///< zero [2 x 1]
    Matrix<float> deltaA;                         ///< slot a's step-2 delta, [1 x 1]
    Matrix<float> deltaB;                         ///< slot b's step-1 delta, [2 x 1]
};

/// Runs the updates described on TwoSlotRun.
TwoSlotRun twoSlotSteps(const std::string& yaml, float gradientA1, float gradientB, float gradientA2);

/// Checks that `run`'s optimizer refuses slot 2 (there are two) and a [1 x 1] value for slot "b" [2 x 1].
void checkWrongSlotRefused(TwoSlotRun& run);

}  // namespace gradlab::testing
