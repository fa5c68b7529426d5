#pragma once
/// @file hdf5_handle.hpp
/// RAII ownership of HDF5 C API identifiers, and turning HDF5 failures into gradlab::Error.

#include <hdf5.h>

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace gradlab::trace {

/// Owns one HDF5 identifier (file, group, dataset, dataspace, datatype, property list or attribute) and
/// closes it with the matching H5*close when destroyed. Move-only; an invalid handle holds a negative id.
class Hdf5Handle {
public:
    /// The H5*close function matching the kind of identifier.
    using Closer = herr_t (*)(hid_t);

    /// An empty handle that owns nothing.
    Hdf5Handle() noexcept = default;

    /// Takes ownership of `id` (ignored when negative), to be closed with `closer`.
    Hdf5Handle(hid_t id, Closer closer) noexcept : id_(id), closer_(closer) {}

    Hdf5Handle(const Hdf5Handle&) = delete;
    Hdf5Handle& operator=(const Hdf5Handle&) = delete;

    /// Takes over the other handle's identifier, leaving it empty.
    Hdf5Handle(Hdf5Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }

    /// Closes the current identifier, then takes over the other's.
    Hdf5Handle& operator=(Hdf5Handle&& other) noexcept;

    /// Closes the identifier if valid; never throws.
    ~Hdf5Handle() { reset(); }

    /// The raw identifier, for HDF5 calls.
    hid_t get() const noexcept { return id_; }

    /// True when the handle owns a valid (non-negative) identifier.
    bool valid() const noexcept { return id_ >= 0; }

    /// Closes the identifier now (errors ignored) and leaves the handle empty.
    void reset() noexcept;

    /// Closes the identifier now and returns H5*close's status (negative on failure); empty handles give 0.
    herr_t close() noexcept;

    /// Gives up ownership without closing and returns the identifier.
    hid_t release() noexcept;

    /// A handle closed with H5Fclose.
    static Hdf5Handle file(hid_t id) noexcept { return {id, &H5Fclose}; }
    /// A handle closed with H5Gclose.
    static Hdf5Handle group(hid_t id) noexcept { return {id, &H5Gclose}; }
    /// A handle closed with H5Dclose.
    static Hdf5Handle dataset(hid_t id) noexcept { return {id, &H5Dclose}; }
    /// A handle closed with H5Sclose.
    static Hdf5Handle dataspace(hid_t id) noexcept { return {id, &H5Sclose}; }
    /// A handle closed with H5Tclose.
    static Hdf5Handle datatype(hid_t id) noexcept { return {id, &H5Tclose}; }
    /// A handle closed with H5Pclose.
    static Hdf5Handle propertyList(hid_t id) noexcept { return {id, &H5Pclose}; }
    /// A handle closed with H5Aclose.
    static Hdf5Handle attribute(hid_t id) noexcept { return {id, &H5Aclose}; }

private:
    hid_t id_ = -1;
    Closer closer_ = nullptr;
};

/// Turns off HDF5's automatic printing of its error stack to stderr while alive, restoring the previous
/// handler afterwards; gradlab reports HDF5 failures as Error instead.
class Hdf5ErrorSilencer {
public:
    /// Saves the current automatic error handler and installs none.
    Hdf5ErrorSilencer() noexcept;
    /// Restores the saved handler.
    ~Hdf5ErrorSilencer();
    Hdf5ErrorSilencer(const Hdf5ErrorSilencer&) = delete;
    Hdf5ErrorSilencer& operator=(const Hdf5ErrorSilencer&) = delete;

private:
    H5E_auto2_t function_ = nullptr;
    void* data_ = nullptr;
};

/// The most specific message on the current HDF5 error stack, e.g. "No such file or directory";
/// "unknown HDF5 error" when the stack is empty. Call right after the failing HDF5 call.
std::string hdf5ErrorReason();

/// Returns `id` when non-negative, else throws Error("<what>: <HDF5 reason>").
hid_t checkHdf5(hid_t id, const std::string& what);

/// Returns `status` when non-negative, else throws Error("<what>: <HDF5 reason>").
herr_t checkHdf5Status(herr_t status, const std::string& what);

/// Opens an existing HDF5 file read-only. Throws Error "cannot open 'PATH': no such file",
/// "'PATH' is not an HDF5 file" or "cannot open 'PATH': <HDF5 reason>".
Hdf5Handle openHdf5ReadOnly(const std::string& path);

/// True when `path` (absolute, e.g. "/trace/loss") names an existing link, checking each component in turn.
bool hdf5LinkExists(hid_t location, const std::string& path);

/// Whether reading `bytes` for an object that stores `storedBytes` in the file is plausible: a few hundred bytes
/// of HDF5 can declare 2^64 elements, and reading them must fail with a message, not exhaust memory. Allowed:
/// deflate's best ratio (~1032:1, 1100 counted) per stored byte, plus 64 MiB of fill values (rows extended but
/// never written, as in the trace of a killed run).
bool hdf5ReadFits(double bytes, hsize_t storedBytes);

/// Names of the links directly inside a group, in name order.
std::vector<std::string> hdf5GroupMembers(hid_t location, const std::string& groupPath);

/// Names of the datasets directly inside a group, in name order.
std::vector<std::string> hdf5GroupDatasets(hid_t location, const std::string& groupPath);

/// Every dataset of the file, as absolute paths in name order (H5Ovisit); throws Error "<where>: cannot list its
/// datasets: <reason>" when an object header or a group's links do not read.
std::vector<std::string> hdf5AllDatasets(hid_t file, const std::string& where);

/// Reads the dataset at `path` (only its last row, the last index of its first dimension, when `lastRowOnly`) and
/// discards the values: a check that its chunks decompress and pass their checksums. Throws Error "<where>: cannot
/// read '<path>': <reason>".
void hdf5CheckDatasetReads(hid_t file, const std::string& path, bool lastRowOnly, const std::string& where);

/// A readable name of a dataset's type class: "integer", "float", "string", "enum", "compound", ...
std::string hdf5TypeClassName(hid_t datatype);

// Writing. Every helper throws Error("<where>: cannot ...: <HDF5 reason>"). With `checksummed`, a non-empty
// dataset is stored as one chunk with HDF5's fletcher32 filter, so that a read of damaged data fails instead of
// returning other values (checkpoints use it for every dataset).

/// A variable-length UTF-8 string type, as every gradlab file stores text.
Hdf5Handle makeUtf8StringType();

/// Opens the group at absolute `path`, creating it and its parents when missing.
Hdf5Handle openOrCreateGroup(hid_t file, const std::string& path, const std::string& where);

/// Writes a scalar attribute of `fileType` from `data` in `memoryType`, replacing any previous one.
void writeScalarAttribute(hid_t object, const std::string& name, hid_t fileType, hid_t memoryType, const void* data,
                          const std::string& where);

/// Writes (or replaces) a UTF-8 string attribute.
void writeStringAttribute(hid_t object, const std::string& name, const std::string& value, const std::string& where);

/// Writes (or replaces) an int64 attribute.
void writeIntegerAttribute(hid_t object, const std::string& name, std::int64_t value, const std::string& where);

/// Writes (or replaces) a float64 attribute.
void writeDoubleAttribute(hid_t object, const std::string& name, double value, const std::string& where);

/// Writes a 1-D dataset of UTF-8 strings.
void writeStringDataset(hid_t group, const std::string& name, const std::vector<std::string>& values,
                        const std::string& where, bool checksummed = false);

/// Writes a 1-D int64 dataset.
void writeInt64Dataset(hid_t group, const std::string& name, const std::vector<std::int64_t>& values,
                       const std::string& where, bool checksummed = false);

/// Writes a 1-D float64 dataset.
void writeDoubleDataset(hid_t group, const std::string& name, const std::vector<double>& values,
                        const std::string& where, bool checksummed = false);

/// Writes `matrix` as dataset `name` of `group`, [rows x cols] in Eigen's orientation, in float32.
void writeMatrixDataset(hid_t group, const std::string& name, const Eigen::MatrixXf& matrix, const std::string& where,
                        bool checksummed = false);

/// Same as above in float64.
void writeMatrixDataset(hid_t group, const std::string& name, const Eigen::MatrixXd& matrix, const std::string& where,
                        bool checksummed = false);

}  // namespace gradlab::trace
