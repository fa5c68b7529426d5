#include "trace/trace_reader.hpp"

#include <limits>

#include "gradlab/error.hpp"
#include "trace/trace_writer.hpp"

namespace gradlab::trace {

namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

bool isNumericClass(H5T_class_t typeClass) { return typeClass == H5T_INTEGER || typeClass == H5T_FLOAT; }

std::string shapeText(const std::vector<hsize_t>& shape) {
    std::string text = "[";
    for (std::size_t index = 0; index < shape.size(); ++index)
        text += (index ? " x " : "") + std::to_string(shape[index]);
    return text + "]";
}

std::vector<hsize_t> spaceShape(hid_t space) {
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> shape(rank > 0 ? static_cast<std::size_t>(rank) : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space, shape.data(), nullptr);
    return shape;
}

/// The number of elements of a shape; false when it does not fit in 64 bits or an extent is beyond any real
/// trace (2^48), which also keeps every extent representable as an Eigen::Index.
bool elementCount(const std::vector<hsize_t>& shape, std::uint64_t& count) {
    count = 1;
    for (hsize_t extent : shape) {
        if (extent > (hsize_t(1) << 48)) return false;
        if (extent != 0 && count > std::numeric_limits<std::uint64_t>::max() / extent) return false;
        count *= extent;
    }
    return true;
}

/// Refuses to allocate `count` elements of `elementBytes` each for an object that stores `storedBytes` in the
/// file (hdf5ReadFits).
void checkReadSize(std::uint64_t count, std::size_t elementBytes, hsize_t storedBytes, const std::string& what) {
    if (!hdf5ReadFits(static_cast<double>(count) * static_cast<double>(elementBytes), storedBytes))
        throw Error(what + " declares " + std::to_string(count) + " elements of " + std::to_string(elementBytes) +
                    " bytes but the file stores only " + std::to_string(storedBytes) + " bytes for it");
}

/// Reads a string attribute or dataset element(s) of string type `fileType` through `read(memoryType, buffer)`.
template <typename Read>
std::vector<std::string> readStringData(hid_t fileType, std::size_t count, hid_t space, hsize_t storedBytes,
                                        Read read, const std::string& what) {
    checkReadSize(count, sizeof(char*), storedBytes, what);
    std::vector<std::string> values;
    values.reserve(count);
    Hdf5Handle memoryType = Hdf5Handle::datatype(checkHdf5(H5Tcopy(H5T_C_S1), what));
    checkHdf5Status(H5Tset_cset(memoryType.get(), H5Tget_cset(fileType)), what);
    if (H5Tis_variable_str(fileType) > 0) {
        checkHdf5Status(H5Tset_size(memoryType.get(), H5T_VARIABLE), what);
        std::vector<char*> pointers(count, nullptr);
        if (count > 0) checkHdf5Status(read(memoryType.get(), pointers.data()), what);
        for (char* pointer : pointers) values.emplace_back(pointer ? pointer : "");
#if H5_VERSION_GE(1, 12, 0)
        if (count > 0) H5Treclaim(memoryType.get(), space, H5P_DEFAULT, pointers.data());
#else
        if (count > 0) H5Dvlen_reclaim(memoryType.get(), space, H5P_DEFAULT, pointers.data());
#endif
    } else {
        const std::size_t size = H5Tget_size(fileType);
        checkReadSize(count, size, storedBytes, what);
        checkHdf5Status(H5Tset_size(memoryType.get(), size), what);
        checkHdf5Status(H5Tset_strpad(memoryType.get(), H5T_STR_NULLPAD), what);
        std::vector<char> buffer(count * size + 1, '\0');
        if (count > 0) checkHdf5Status(read(memoryType.get(), buffer.data()), what);
        for (std::size_t index = 0; index < count; ++index) {
            std::string value(buffer.data() + index * size, size);
            const std::size_t end = value.find('\0');
            if (end != std::string::npos) value.resize(end);
            values.push_back(value);
        }
    }
    return values;
}

}  // namespace

TraceReader::TraceReader(const std::string& path)
    : TraceReader(path, "trace", traceSchemaName, traceSchemaVersion) {}

TraceReader::TraceReader(const std::string& path, const std::string& kind, const std::string& schemaName,
                         std::int64_t newestVersion)
    : path_(path) {
    Hdf5ErrorSilencer silencer;
    file_ = openHdf5ReadOnly(path);
    const std::string expected = ", expected '" + schemaName + "')";
    if (!hasAttribute("schema"))
        throw Error(quoted(path) + " is not a gradlab " + kind + " (schema attribute: missing" + expected);
    std::string schema;
    try {
        schema = stringAttribute("schema");
    } catch (const Error&) {
        throw Error(quoted(path) + " is not a gradlab " + kind + " (schema attribute: not a string" + expected);
    }
    if (schema != schemaName)
        throw Error(quoted(path) + " is not a gradlab " + kind + " (schema attribute: " + quoted(schema) + expected);
    if (!hasAttribute("schema_version"))
        throw Error(quoted(path) + " is not a valid gradlab " + kind + " (schema_version attribute: missing)");
    const std::int64_t version = integerAttribute("schema_version");
    if (version > newestVersion)
        throw Error(quoted(path) + " was written by a newer gradlab: schema_version " + std::to_string(version) +
                    ", this reader knows " + std::to_string(newestVersion));
    if (version < 1)
        throw Error(quoted(path) + " has an invalid schema_version " + std::to_string(version) +
                    " (this reader knows 1.." + std::to_string(newestVersion) + ")");
}

std::string TraceReader::describe(const std::string& objectPath) const {
    return "trace file " + quoted(path_) + ", object " + quoted(objectPath);
}

bool TraceReader::hasAttribute(const std::string& name, const std::string& objectPath) const {
    Hdf5ErrorSilencer silencer;
    if (!hdf5LinkExists(file_.get(), objectPath)) return false;
    return H5Aexists_by_name(file_.get(), objectPath.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

Hdf5Handle TraceReader::openAttribute(const std::string& name, const std::string& objectPath) const {
    if (!hasAttribute(name, objectPath)) throw Error(describe(objectPath) + ": no attribute " + quoted(name));
    return Hdf5Handle::attribute(
        checkHdf5(H5Aopen_by_name(file_.get(), objectPath.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                  describe(objectPath) + ": cannot open attribute " + quoted(name)));
}

std::string TraceReader::stringAttribute(const std::string& name, const std::string& objectPath) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle attribute = openAttribute(name, objectPath);
    const std::string what = describe(objectPath) + ": cannot read attribute " + quoted(name);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
    if (H5Tget_class(type.get()) != H5T_STRING)
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " is " + hdf5TypeClassName(type.get()) +
                    ", not a string");
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Aget_space(attribute.get()), what));
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count != 1)
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " holds " + std::to_string(count) +
                    " strings, expected one");
    const hid_t attributeId = attribute.get();
    const auto values = readStringData(
        type.get(), 1, space.get(), H5Aget_storage_size(attribute.get()),
        [&](hid_t memoryType, void* buffer) { return H5Aread(attributeId, memoryType, buffer); }, what);
    return values.front();
}

void TraceReader::requireOneValue(hid_t attribute, const std::string& name, const std::string& objectPath) const {
    Hdf5Handle space = Hdf5Handle::dataspace(
        checkHdf5(H5Aget_space(attribute), describe(objectPath) + ": cannot read attribute " + quoted(name)));
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count != 1)
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " holds " + std::to_string(count) +
                    " values, expected one");
}

std::int64_t TraceReader::integerAttribute(const std::string& name, const std::string& objectPath) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle attribute = openAttribute(name, objectPath);
    requireOneValue(attribute.get(), name, objectPath);
    const std::string what = describe(objectPath) + ": cannot read attribute " + quoted(name);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
    if (H5Tget_class(type.get()) != H5T_INTEGER)
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " is " + hdf5TypeClassName(type.get()) +
                    ", not an integer");
    if (H5Tget_sign(type.get()) == H5T_SGN_NONE) {
        const std::uint64_t value = unsignedAttribute(name, objectPath);
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw Error(describe(objectPath) + ": attribute " + quoted(name) + " = " + std::to_string(value) +
                        " does not fit in int64");
        return static_cast<std::int64_t>(value);
    }
    std::int64_t value = 0;
    checkHdf5Status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), what);
    return value;
}

std::uint64_t TraceReader::unsignedAttribute(const std::string& name, const std::string& objectPath) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle attribute = openAttribute(name, objectPath);
    requireOneValue(attribute.get(), name, objectPath);
    const std::string what = describe(objectPath) + ": cannot read attribute " + quoted(name);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
    if (H5Tget_class(type.get()) != H5T_INTEGER)
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " is " + hdf5TypeClassName(type.get()) +
                    ", not an integer");
    if (H5Tget_sign(type.get()) != H5T_SGN_NONE) {
        std::int64_t value = 0;
        checkHdf5Status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), what);
        if (value < 0)
            throw Error(describe(objectPath) + ": attribute " + quoted(name) + " = " + std::to_string(value) +
                        " is negative");
        return static_cast<std::uint64_t>(value);
    }
    std::uint64_t value = 0;
    checkHdf5Status(H5Aread(attribute.get(), H5T_NATIVE_UINT64, &value), what);
    return value;
}

double TraceReader::doubleAttribute(const std::string& name, const std::string& objectPath) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle attribute = openAttribute(name, objectPath);
    requireOneValue(attribute.get(), name, objectPath);
    const std::string what = describe(objectPath) + ": cannot read attribute " + quoted(name);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
    if (!isNumericClass(H5Tget_class(type.get())))
        throw Error(describe(objectPath) + ": attribute " + quoted(name) + " is " + hdf5TypeClassName(type.get()) +
                    ", not a number");
    double value = 0.0;
    checkHdf5Status(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value), what);
    return value;
}

bool TraceReader::hasDataset(const std::string& path) const {
    Hdf5ErrorSilencer silencer;
    if (!hdf5LinkExists(file_.get(), path)) return false;
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    const herr_t status = H5Oget_info_by_name3(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    const herr_t status = H5Oget_info_by_name2(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    return status >= 0 && info.type == H5O_TYPE_DATASET;
}

bool TraceReader::hasGroup(const std::string& path) const {
    Hdf5ErrorSilencer silencer;
    if (!hdf5LinkExists(file_.get(), path)) return false;
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    const herr_t status = H5Oget_info_by_name3(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    const herr_t status = H5Oget_info_by_name2(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    return status >= 0 && info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> TraceReader::listGroup(const std::string& path) const {
    if (!hasGroup(path)) throw Error("trace file " + quoted(path_) + ": no group " + quoted(path));
    return hdf5GroupMembers(file_.get(), path);
}

Hdf5Handle TraceReader::openDataset(const std::string& path) const {
    if (!hasDataset(path)) throw Error("trace file " + quoted(path_) + ": no dataset " + quoted(path));
    return Hdf5Handle::dataset(checkHdf5(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT),
                                         "trace file " + quoted(path_) + ": cannot open dataset " + quoted(path)));
}

std::vector<hsize_t> TraceReader::datasetShape(const std::string& path) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle dataset = openDataset(path);
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(
        H5Dget_space(dataset.get()), "trace file " + quoted(path_) + ": cannot read the shape of " + quoted(path)));
    return spaceShape(space.get());
}

std::vector<std::string> TraceReader::readStrings(const std::string& path) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle dataset = openDataset(path);
    const std::string what = "trace file " + quoted(path_) + ": cannot read " + quoted(path);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Dget_type(dataset.get()), what));
    if (H5Tget_class(type.get()) != H5T_STRING)
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " is " +
                    hdf5TypeClassName(type.get()) + ", not strings");
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), what));
    const std::vector<hsize_t> shape = spaceShape(space.get());
    if (shape.size() != 1)
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " has shape " + shapeText(shape) +
                    ", expected 1-D strings");
    const hid_t datasetId = dataset.get();
    // HDF5 converts strings through a buffer it zeroes on every read, 1 MiB unless told: for the few names a trace
    // holds that zeroing was most of the read (a sweep reads every finished run's). A buffer for the whole dataset
    // converts it in one pass all the same.
    const auto count = static_cast<std::size_t>(shape[0]);
    Hdf5Handle transfer = Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_DATASET_XFER), what));
    const std::size_t element = std::max(H5Tget_size(type.get()), sizeof(hvl_t));
    checkHdf5Status(H5Pset_buffer(transfer.get(), std::min<std::size_t>(std::max<std::size_t>(count, 1) * element,
                                                                           std::size_t(1) << 20) + 64,
                                  nullptr, nullptr),
                    what);
    return readStringData(
        type.get(), count, space.get(), H5Dget_storage_size(datasetId),
        [&](hid_t memoryType, void* buffer) {
            return H5Dread(datasetId, memoryType, H5S_ALL, H5S_ALL, transfer.get(), buffer);
        },
        what);
}

Eigen::VectorXd TraceReader::readVector(const std::string& path) const {
    const std::vector<hsize_t> shape = datasetShape(path);
    if (!(shape.size() == 1 || (shape.size() == 2 && shape[1] == 1)))
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " has shape " + shapeText(shape) +
                    ", expected a vector [S]");
    return readMatrix(path).col(0);
}

std::vector<std::int64_t> TraceReader::readInt64Vector(const std::string& path) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle dataset = openDataset(path);
    const std::string what = "trace file " + quoted(path_) + ": cannot read " + quoted(path);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Dget_type(dataset.get()), what));
    if (H5Tget_class(type.get()) != H5T_INTEGER)
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " is " +
                    hdf5TypeClassName(type.get()) + ", not integers");
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), what));
    const std::vector<hsize_t> shape = spaceShape(space.get());
    if (shape.size() != 1)
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " has shape " + shapeText(shape) +
                    ", expected a vector [S]");
    checkReadSize(shape[0], sizeof(std::int64_t), H5Dget_storage_size(dataset.get()),
                  "trace file " + quoted(path_) + ": dataset " + quoted(path));
    std::vector<std::int64_t> values(static_cast<std::size_t>(shape[0]));
    if (!values.empty())
        checkHdf5Status(H5Dread(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), what);
    return values;
}

Eigen::MatrixXd TraceReader::readRows(const std::string& path, bool anyRank) const {
    Hdf5ErrorSilencer silencer;
    Hdf5Handle dataset = openDataset(path);
    const std::string what = "trace file " + quoted(path_) + ": cannot read " + quoted(path);
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Dget_type(dataset.get()), what));
    if (!isNumericClass(H5Tget_class(type.get())))
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " is " +
                    hdf5TypeClassName(type.get()) + ", not numbers");
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), what));
    const std::vector<hsize_t> shape = spaceShape(space.get());
    if (shape.empty() || (shape.size() > 2 && !anyRank))
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " has shape " + shapeText(shape) +
                    ", expected [S] or [S x W]");
    std::uint64_t count = 0;
    if (!elementCount(shape, count))
        throw Error("trace file " + quoted(path_) + ": dataset " + quoted(path) + " has shape " + shapeText(shape) +
                    ", too many elements to read");
    checkReadSize(count, sizeof(double), H5Dget_storage_size(dataset.get()),
                  "trace file " + quoted(path_) + ": dataset " + quoted(path));
    const Eigen::Index rows = static_cast<Eigen::Index>(shape[0]);
    Eigen::Index cols = 1;
    for (std::size_t axis = 1; axis < shape.size(); ++axis) cols *= static_cast<Eigen::Index>(shape[axis]);
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> values(rows, cols);
    if (values.size() > 0)
        checkHdf5Status(H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), what);
    return values;
}

Eigen::MatrixXd TraceReader::readMatrix(const std::string& path) const { return readRows(path, false); }

Eigen::MatrixXd TraceReader::readFlattened(const std::string& path) const { return readRows(path, true); }

}  // namespace gradlab::trace
