#pragma once
/// @file conformance.hpp
/// The generic conformance test every activation and layer plugin passes (in the spirit of dlib's
/// test_layer(), Caffe's GradientChecker, mlpack's CheckGradient). A plugin joins with one line:
///
///     GRADLAB_LAYER_CONFORMANCE("{kind: dense, units: 5, activation: tanh}", gradlab::Shape{4})
///     GRADLAB_LAYER_CONFORMANCE_PHASE("batchnorm", eval, gradlab::Shape{4})   // forward(x, y, Phase::eval)
///     GRADLAB_ACTIVATION_CONFORMANCE("{kind: leaky_relu, alpha: 0.1}")
///
/// or, inside a TEST_CASE of its own, `gradlab::testing::checkLayerConformance(yaml, shape[, phase])`.
///
/// The plugin is built through the real loader (the built-in plugin host) in float64 and float32, its
/// parameters set to random values (the same in both precisions), and checked section by section:
///  - shapes: build's output shape, y [output.features x batch * output.timesteps], dx like x;
///  - gradients (the framework's gradcheck::check, the same code as `gradlab gradcheck`): float64 central
///    finite differences of L = sum(R .* y), R fixed random, for dx and for every
///    parameter (collectParameters, children included), step h = 1e-6 max(1, |v|); the error of an entry is
///    |a - n| / max(|a| + |n|, 1e-3) and its maximum must stay below 1e-6 (the 1e-3 floor makes this an
///    absolute 1e-9 for near-zero entries, where finite differences only have round-off (~1e-10) left);
///  - contract: backward overwrites dx (pre-filled with NaN) and accumulates (+=) parameter gradients
///    (two forward/backward pairs without zeroing give twice the gradients);
///  - precision: float32 forward and backward agree with float64 to |a32 - a64| <= 1e-4 max(1, |a64|).
/// A layer is checked in Phase::train unless told otherwise. In Phase::eval its buffers (running statistics) are
/// first given non-trivial values by three forward(train) passes on shifted, scaled random batches; the float32
/// copy receives the same buffer values, and an extra section checks that eval forward/backward leave every
/// buffer untouched.
/// Activations are additionally checked for value()/slope() against forward()/derivative() and derivative()
/// against backward(dy = 1). Inputs are drawn with |x| in [0.05, 2], away from the kinks at 0.

#include <catch2/catch.hpp>

#include <string>

#include "gradlab/tensor.hpp"

namespace gradlab::testing {

/// Runs every layer conformance check on the layer spec `yaml` (a name or a YAML map) for inputs of `input`
/// shape, on a batch of 3 samples, with every forward in `phase` (eval: after warming the buffers up in train).
void checkLayerConformance(const std::string& yaml, const Shape& input, Phase phase = Phase::train);

/// Runs every activation conformance check on the activation spec `yaml`, built for `units` units, on a batch
/// of 3 samples.
void checkActivationConformance(const std::string& yaml, Index units = 4);

}  // namespace gradlab::testing

/// A test case running the layer conformance checks on the layer spec YAML (a string literal) with input
/// shape given by the remaining arguments, e.g. `gradlab::Shape{4}` or `gradlab::Shape{4, 2}`.
#define GRADLAB_LAYER_CONFORMANCE(YAML, ...)                                                         \
    TEST_CASE("layer conformance: " YAML " on " #__VA_ARGS__, "[plugins][layers][conformance]") { \
        ::gradlab::testing::checkLayerConformance(YAML, __VA_ARGS__);                                \
    }

/// A test case running the layer conformance checks with every forward in PHASE (`train` or `eval`, a name of
/// gradlab::Phase), e.g. `GRADLAB_LAYER_CONFORMANCE_PHASE("batchnorm", eval, gradlab::Shape{4, 2})`.
#define GRADLAB_LAYER_CONFORMANCE_PHASE(YAML, PHASE, ...)                                                     \
    TEST_CASE("layer conformance (" #PHASE " phase): " YAML " on " #__VA_ARGS__,                            \
              "[plugins][layers][conformance]") {                                                           \
        ::gradlab::testing::checkLayerConformance(YAML, __VA_ARGS__, ::gradlab::Phase::PHASE);              \
    }

/// A test case running the activation conformance checks on the activation spec YAML (a string literal).
#define GRADLAB_ACTIVATION_CONFORMANCE(YAML)                                                    \
    TEST_CASE("activation conformance: " YAML, "[plugins][activations][conformance]") {     \
        ::gradlab::testing::checkActivationConformance(YAML);                                   \
    }
