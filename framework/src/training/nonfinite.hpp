#pragma once
/// @file nonfinite.hpp
/// Where a NaN or Inf came from: the non_finite event of a step, located by phase (forward, backward,
/// update), layer or parameter, and timestep, from the network's state right after the phase that met it.

#include <cstdint>
#include <string>

#include "model/network.hpp"
#include "training/detectors.hpp"

namespace gradlab {

/// After a forward pass whose loss is non-finite: a parameter left non-finite by the previous update ("update
/// <param>"), else the first layer whose output is non-finite ("forward <layer>", with its first such
/// timestep), else the loss itself ("forward loss").
template <typename Scalar>
Event locateForward(const Network<Scalar>& network, std::int64_t step, double loss);

/// After a backward pass whose gradient norm is non-finite: the first non-finite signal in backward order,
/// from the output towards the input ("backward <layer>", with its timestep), else the first non-finite
/// parameter gradient ("backward <param>"), else "backward".
template <typename Scalar>
Event locateBackward(const Network<Scalar>& network, std::int64_t step, double gradNorm);

/// The event of an update whose norm is non-finite ("update <param>").
Event nonFiniteUpdate(const std::string& parameter, std::int64_t step, double updateNorm);

/// For a sequence [features x (T * batch)] of shape `shape`, the first timestep holding a non-finite value;
/// -1 for non-sequence values or when all are finite.
template <typename Scalar>
std::int64_t firstNonFiniteTimestep(const Matrix<Scalar>& values, Shape shape);

}  // namespace gradlab
