#pragma once
/// @file memory_budget.hpp
/// What a run's data and model will need in memory, estimated before anything is allocated, so that a config
/// asking for too much is refused with the figure and the key instead of ending in std::bad_alloc.

#include <cstdint>
#include <string>

#include "config/run_config.hpp"

namespace gradlab {

/// Bytes this process may still allocate: MemAvailable of /proc/meminfo, capped by RLIMIT_AS and RLIMIT_DATA.
double availableMemoryBytes();

/// "12.3 GiB", "512 MiB", "3.0 KiB".
std::string formatBytes(double bytes);

/// A lower bound of the bytes the generated data set of `data` takes (float64 inputs and targets of every sample,
/// training and validation); 0 for data read from a file, which the reader bounds by the file's size.
double estimatedDataBytes(const DataConfig& data);

/// Throws ConfigError "<config file>: data.<key> = N: the data set needs at least X, more than the Y of memory
/// available; lower data.<key>" when estimatedDataBytes exceeds availableMemoryBytes.
void checkDataFits(const RunConfig& config);

/// Throws ConfigError naming training.batch_size when the activations and signal gradients a step keeps for one
/// batch (`bytesPerSample` per sample over all layers) exceed the memory available.
void checkActivationsFit(const RunConfig& config, double bytesPerSample);

}  // namespace gradlab
