/// @file file_data.cpp
/// Data sets read from files: CSV and HDF5.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

#include "data/dataset.hpp"
#include "gradlab/error.hpp"
#include "trace/hdf5_handle.hpp"
#include "util/safe_files.hpp"
#include "util/suggest.hpp"

namespace gradlab::data {

namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string formatNumber(double value) {
    std::ostringstream stream;
    stream << value;
    return stream.str();
}

std::string trim(const std::string& text) {
    const char* space = " \t\r\n";
    const std::size_t first = text.find_first_not_of(space);
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(space) - first + 1);
}

/// Splits one CSV line; a field may be double-quoted ("" inside quotes is a quote). Unquoted fields are trimmed.
std::vector<std::string> splitFields(const std::string& line, char delimiter, const std::string& where) {
    std::vector<std::string> fields;
    std::size_t position = 0;
    while (true) {
        while (position < line.size() && (line[position] == ' ' || line[position] == '\t') &&
               line[position] != delimiter)
            ++position;
        std::string field;
        if (position < line.size() && line[position] == '"') {
            ++position;
            bool closed = false;
            while (position < line.size()) {
                if (line[position] == '"') {
                    if (position + 1 < line.size() && line[position + 1] == '"') {
                        field += '"';
                        position += 2;
                        continue;
                    }
                    closed = true;
                    ++position;
                    break;
                }
                field += line[position++];
            }
            if (!closed) throw Error(where + ": unterminated quoted field");
            while (position < line.size() && line[position] != delimiter) {
                if (line[position] != ' ' && line[position] != '\t')
                    throw Error(where + ": unexpected text after a quoted field");
                ++position;
            }
        } else {
            const std::size_t end = std::min(line.find(delimiter, position), line.size());
            field = trim(line.substr(position, end - position));
            position = end;
        }
        fields.push_back(field);
        if (position >= line.size()) break;
        ++position;  // the delimiter
    }
    return fields;
}

/// Parses a whole field as a double; false if it is not a number.
bool parseNumber(const std::string& text, double& value) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    value = std::strtod(text.c_str(), &end);
    return end == text.c_str() + text.size();
}

bool parseInteger(const std::string& text, long long& value) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    value = std::strtoll(text.c_str(), &end, 10);
    return errno == 0 && end == text.c_str() + text.size();
}

/// "class label '1.5' is not a non-negative integer" unless value is a class index.
bool isClassIndex(double value) {
    return std::isfinite(value) && value >= 0.0 && value == std::floor(value) && value < 2147483648.0;
}

/// Column indices of the targets, in the order given.
std::vector<std::size_t> resolveTargets(const std::string& path, const CsvSpec& spec,
                                        const std::vector<std::string>& names, std::size_t columnCount) {
    std::vector<std::string> requested = spec.targetColumns;
    if (requested.empty()) requested.push_back("-1");
    std::vector<std::size_t> targets;
    for (const std::string& entry : requested) {
        std::size_t index = columnCount;
        if (spec.header) {
            const auto found = std::find(names.begin(), names.end(), entry);
            if (found != names.end()) index = static_cast<std::size_t>(found - names.begin());
        }
        if (index == columnCount) {
            long long number = 0;
            if (!parseInteger(trim(entry), number)) {
                if (spec.header)
                    throw Error(path + ": unknown target column " + quoted(entry) + suggestionSuffix(entry, names));
                throw Error(path + ": target column " + quoted(entry) +
                            " must be a 0-based column index (the file has no header; -1 is the last column)");
            }
            const long long count = static_cast<long long>(columnCount);
            if (number < -count || number >= count)
                throw Error(path + ": target column index " + std::to_string(number) + " is out of range (" +
                            std::to_string(columnCount) + " columns: 0.." + std::to_string(count - 1) + " or -1..-" +
                            std::to_string(count) + ")");
            index = static_cast<std::size_t>(number < 0 ? number + count : number);
        }
        if (std::find(targets.begin(), targets.end(), index) != targets.end())
            throw Error(path + ": target column " + quoted(entry) + " is given twice");
        targets.push_back(index);
    }
    if (targets.size() >= columnCount)
        throw Error(path + ": every one of the " + std::to_string(columnCount) +
                    " columns is a target; no input columns are left");
    if (spec.classification && targets.size() != 1)
        throw Error(path + ": classification needs exactly one target column, got " + std::to_string(targets.size()));
    return targets;
}

}  // namespace

Dataset loadCsv(const std::string& path, const CsvSpec& spec) {
    files::requireRegularOrMissing(path, "data file");  // a FIFO would block the read for ever
    std::ifstream stream(path);
    if (!stream) throw Error("cannot open '" + path + "': " + std::strerror(errno));

    std::vector<std::string> names;
    std::vector<std::size_t> targets;
    std::vector<bool> isTarget;
    std::size_t columnCount = 0;
    std::vector<double> inputValues, targetValues;  // sample after sample
    double largestLabel = -1.0;
    Index samples = 0;

    auto columnLabel = [&](std::size_t column) {
        return spec.header ? "column " + quoted(names[column]) : "column index " + std::to_string(column);
    };

    std::string line;
    std::size_t lineNumber = 0;
    bool sawFirstLine = false;
    while (std::getline(stream, line)) {
        ++lineNumber;
        if (trim(line).empty()) continue;
        const std::string where = path + ":" + std::to_string(lineNumber);
        std::vector<std::string> fields = splitFields(line, spec.delimiter, where);
        if (!sawFirstLine) {
            sawFirstLine = true;
            columnCount = fields.size();
            if (spec.header) names = fields;
            targets = resolveTargets(path, spec, names, columnCount);
            isTarget.assign(columnCount, false);
            for (std::size_t target : targets) isTarget[target] = true;
            if (spec.header) continue;
        }
        if (fields.size() != columnCount)
            throw Error(where + ": expected " + std::to_string(columnCount) + " columns, found " +
                        std::to_string(fields.size()));
        std::vector<double> values(columnCount);
        for (std::size_t column = 0; column < columnCount; ++column) {
            if (!parseNumber(fields[column], values[column]))
                throw Error(where + ": " + columnLabel(column) + ": " + quoted(fields[column]) + " is not a number");
            if (!std::isfinite(values[column]))
                throw Error(where + ": " + columnLabel(column) + ": " + quoted(fields[column]) +
                            " is not a finite number");
        }
        for (std::size_t column = 0; column < columnCount; ++column)
            if (!isTarget[column]) inputValues.push_back(values[column]);
        for (std::size_t target : targets) {
            const double value = values[target];
            if (spec.classification) {
                if (!isClassIndex(value))
                    throw Error(where + ": " + columnLabel(target) + ": class label " + quoted(fields[target]) +
                                " is not a non-negative integer");
                largestLabel = std::max(largestLabel, value);
            }
            targetValues.push_back(value);
        }
        ++samples;
    }
    if (stream.bad()) throw Error("cannot read '" + path + "': " + std::strerror(errno));
    if (samples == 0) throw Error(path + ": no data rows");

    const Index inputCount = static_cast<Index>(columnCount - targets.size());
    const Index targetCount = static_cast<Index>(targets.size());
    Dataset dataset;
    dataset.inputs = Eigen::Map<const Eigen::MatrixXd>(inputValues.data(), inputCount, samples);
    dataset.targets = Eigen::Map<const Eigen::MatrixXd>(targetValues.data(), targetCount, samples);
    dataset.classes = spec.classification ? static_cast<Index>(largestLabel) + 1 : 0;
    std::string targetNames;
    for (std::size_t target : targets)
        targetNames += (targetNames.empty() ? "" : ", ") + (spec.header ? names[target] : std::to_string(target));
    dataset.description = "csv: " + path + ", " + std::to_string(samples) + " samples, " + std::to_string(inputCount) +
                          " inputs, targets [" + targetNames + "]" +
                          (spec.classification ? ", " + std::to_string(dataset.classes) + " classes" : "");
    checkFinite(dataset, path);
    return dataset;
}

namespace {

using trace::Hdf5Handle;

/// A numeric dataset read as [features x samples] (the row-major [samples x features] of the file); `dims`
/// receives the file's dimensions.
Eigen::MatrixXd readSamples(hid_t file, const std::string& path, const std::string& name, const char* role,
                            std::string& shapeText, std::vector<Index>* dimensions = nullptr) {
    std::string absolute = name.empty() || name.front() != '/' ? "/" + name : name;
    bool isDataset = false;
    if (trace::hdf5LinkExists(file, absolute)) {
        H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
        const herr_t status = H5Oget_info_by_name3(file, absolute.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
        const herr_t status = H5Oget_info_by_name2(file, absolute.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
        isDataset = status >= 0 && info.type == H5O_TYPE_DATASET;
    }
    if (!isDataset) {
        const std::vector<std::string> available = trace::hdf5GroupDatasets(file, "/");
        const std::string match = closestMatch(name, available);
        throw Error(quoted(path) + " has no " + role + " dataset " + quoted(name) + " (" +
                    (match.empty() ? "" : "did you mean " + quoted(match) + "? ") +
                    (available.empty() ? "there are no datasets at the root"
                                       : "datasets at the root: " + joinNames(available)) +
                    ")");
    }
    const std::string what = quoted(path) + ": cannot read " + role + " dataset " + quoted(name);
    Hdf5Handle dataset = Hdf5Handle::dataset(trace::checkHdf5(H5Dopen2(file, absolute.c_str(), H5P_DEFAULT), what));
    Hdf5Handle type = Hdf5Handle::datatype(trace::checkHdf5(H5Dget_type(dataset.get()), what));
    const H5T_class_t typeClass = H5Tget_class(type.get());
    if (typeClass != H5T_INTEGER && typeClass != H5T_FLOAT)
        throw Error(quoted(path) + ": " + role + " dataset " + quoted(name) + " has non-numeric type " +
                    trace::hdf5TypeClassName(type.get()) + "; expected integers or floats");
    Hdf5Handle space = Hdf5Handle::dataspace(trace::checkHdf5(H5Dget_space(dataset.get()), what));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 1)
        throw Error(quoted(path) + ": " + role + " dataset " + quoted(name) +
                    " is a scalar; expected [samples] or [samples x features]");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    shapeText = "[";
    for (std::size_t index = 0; index < dims.size(); ++index)
        shapeText += (index ? " x " : "") + std::to_string(dims[index]);
    shapeText += "]";
    // Refuse more than the file could hold (trace::hdf5ReadFits) before the product of the extents overflows or
    // the allocation exhausts memory; the largest extent counts too, as a zero extent makes the product 0.
    double elements = 1.0, largestExtent = 0.0;
    for (hsize_t extent : dims) {
        elements *= static_cast<double>(extent);
        largestExtent = std::max(largestExtent, static_cast<double>(extent));
    }
    const hsize_t storedBytes = H5Dget_storage_size(dataset.get());
    if (!trace::hdf5ReadFits(std::max(elements, largestExtent) * sizeof(double), storedBytes))
        throw Error(quoted(path) + ": " + role + " dataset " + quoted(name) + " has shape " + shapeText +
                    " but the file stores only " + std::to_string(storedBytes) + " bytes for it");
    if (dimensions != nullptr) dimensions->assign(dims.begin(), dims.end());
    const Index samples = static_cast<Index>(dims[0]);
    Index features = 1;
    for (std::size_t index = 1; index < dims.size(); ++index) features *= static_cast<Index>(dims[index]);
    Eigen::MatrixXd values(features, samples);
    if (values.size() > 0)
        trace::checkHdf5Status(H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                               what);
    return values;
}

}  // namespace

Dataset loadHdf5(const std::string& path, const std::string& inputsDataset, const std::string& targetsDataset,
                 bool classification) {
    trace::Hdf5ErrorSilencer silencer;
    Hdf5Handle file = trace::openHdf5ReadOnly(path);
    Dataset dataset;
    std::string inputsShape, targetsShape;
    dataset.inputs = readSamples(file.get(), path, inputsDataset, "inputs", inputsShape);
    dataset.targets = readSamples(file.get(), path, targetsDataset, "targets", targetsShape);
    if (dataset.inputs.cols() != dataset.targets.cols())
        throw Error(quoted(path) + ": inputs " + quoted(inputsDataset) + " has " +
                    std::to_string(dataset.inputs.cols()) + " samples " + inputsShape + " but targets " +
                    quoted(targetsDataset) + " has " + std::to_string(dataset.targets.cols()) + " " + targetsShape +
                    " (the first dimension counts samples)");
    if (dataset.samples() == 0) throw Error(quoted(path) + ": inputs " + quoted(inputsDataset) + " has no samples");
    if (classification) {
        if (dataset.targets.rows() != 1)
            throw Error(quoted(path) + ": classification targets " + quoted(targetsDataset) + " have shape " +
                        targetsShape + "; expected one class index per sample, [samples] or [samples x 1]");
        double largest = 0.0;
        for (Index sample = 0; sample < dataset.samples(); ++sample) {
            const double label = dataset.targets(0, sample);
            if (!isClassIndex(label))
                throw Error(quoted(path) + ": targets " + quoted(targetsDataset) + ", sample " +
                            std::to_string(sample) + ": class label " + formatNumber(label) +
                            " is not a non-negative integer");
            largest = std::max(largest, label);
        }
        dataset.classes = static_cast<Index>(largest) + 1;
    }
    dataset.description = "hdf5: " + path + ", inputs " + inputsDataset + " " + inputsShape + ", targets " +
                          targetsDataset + " " + targetsShape +
                          (classification ? ", " + std::to_string(dataset.classes) + " classes" : "");
    checkFinite(dataset, path);
    return dataset;
}

Dataset loadHdf5Sequences(const std::string& path, const std::string& inputsDataset,
                          const std::string& targetsDataset, bool classification) {
    trace::Hdf5ErrorSilencer silencer;
    Hdf5Handle file = trace::openHdf5ReadOnly(path);
    Dataset dataset;
    std::string inputsShape, targetsShape;
    std::vector<Index> inputDims, targetDims;
    dataset.inputs = readSamples(file.get(), path, inputsDataset, "inputs", inputsShape, &inputDims);
    if (inputDims.size() != 3)
        throw Error(quoted(path) + ": sequence inputs " + quoted(inputsDataset) + " have shape " + inputsShape +
                    "; expected [samples x timesteps x features] (numpy order; store a single-feature series as "
                    "[samples x timesteps x 1])");
    const Index samples = inputDims[0], timesteps = inputDims[1];
    if (timesteps < 1 || inputDims[2] < 1)
        throw Error(quoted(path) + ": sequence inputs " + quoted(inputsDataset) + " have shape " + inputsShape +
                    "; expected at least one timestep and one feature");
    dataset.targets = readSamples(file.get(), path, targetsDataset, "targets", targetsShape, &targetDims);
    if (targetDims[0] != samples)
        throw Error(quoted(path) + ": inputs " + quoted(inputsDataset) + " has " + std::to_string(samples) +
                    " samples " + inputsShape + " but targets " + quoted(targetsDataset) + " has " +
                    std::to_string(targetDims[0]) + " " + targetsShape + " (the first dimension counts samples)");
    if (samples == 0) throw Error(quoted(path) + ": inputs " + quoted(inputsDataset) + " has no samples");

    // One target per sequence or one per step, read from the targets' shape.
    const std::string perSequence = classification ? "[samples] or [samples x 1]" : "[samples x outputs]";
    const std::string perStep = classification ? "[samples x " + std::to_string(timesteps) + "] or [samples x " +
                                                     std::to_string(timesteps) + " x 1]"
                                               : "[samples x " + std::to_string(timesteps) + " x outputs]";
    auto refuseTargets = [&] {
        throw Error(quoted(path) + ": targets " + quoted(targetsDataset) + " have shape " + targetsShape +
                    "; expected " + perSequence + " (one target per sequence) or " + perStep +
                    " (a target per step) for inputs " + quoted(inputsDataset) + " " + inputsShape);
    };
    Index targetTimesteps = 1;
    if (classification) {
        if (targetDims.size() == 1 || (targetDims.size() == 2 && targetDims[1] == 1))
            targetTimesteps = 1;
        else if ((targetDims.size() == 2 && targetDims[1] == timesteps) ||
                 (targetDims.size() == 3 && targetDims[1] == timesteps && targetDims[2] == 1))
            targetTimesteps = timesteps;
        else
            refuseTargets();
    } else {
        if (targetDims.size() <= 2)
            targetTimesteps = 1;
        else if (targetDims.size() == 3 && targetDims[1] == timesteps)
            targetTimesteps = timesteps;
        else
            refuseTargets();
    }
    dataset.timesteps = timesteps;
    dataset.targetTimesteps = targetTimesteps;
    if (classification) {
        double largest = 0.0;
        for (Index sample = 0; sample < samples; ++sample)
            for (Index t = 0; t < targetTimesteps; ++t) {
                const double label = dataset.targets(t, sample);
                if (targetTimesteps > 1 && std::isnan(label)) continue;  // a masked step
                if (!isClassIndex(label))
                    throw Error(quoted(path) + ": targets " + quoted(targetsDataset) + ", sample " +
                                std::to_string(sample) + (targetTimesteps > 1 ? ", timestep " + std::to_string(t) : "") +
                                ": class label " + formatNumber(label) + " is not a non-negative integer");
                largest = std::max(largest, label);
            }
        dataset.classes = static_cast<Index>(largest) + 1;
    }
    dataset.description = "hdf5 sequences: " + path + ", inputs " + inputsDataset + " " + inputsShape + ", targets " +
                          targetsDataset + " " + targetsShape +
                          (targetTimesteps > 1 ? " (a target per step)" : " (one target per sequence)") +
                          (classification ? ", " + std::to_string(dataset.classes) + " classes" : "");
    checkLayout(dataset, quoted(path));
    checkFinite(dataset, path);
    return dataset;
}

}  // namespace gradlab::data
