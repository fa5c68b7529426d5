#pragma once
/// @file trace_compare.hpp
/// Bit-for-bit comparison of two HDF5 traces, for the resume tests.

#include <string>
#include <vector>

#include "trace/trace_reader.hpp"

namespace gradlab::testing {

/// Every dataset under `group`, recursively, as absolute paths in name order.
std::vector<std::string> listDatasets(const trace::TraceReader& reader, const std::string& group = "/");

/// A dataset's shape and contents as comparable bytes: numbers as float64 bit patterns (float32 and int64 values
/// convert exactly), strings as their text.
std::string datasetBytes(const trace::TraceReader& reader, const std::string& path);

/// Checks (Catch CHECKs) that two traces hold the same datasets with the same contents bit for bit, the same
/// status and the same config.
void checkSameTrace(const std::string& expectedPath, const std::string& actualPath);

}  // namespace gradlab::testing
