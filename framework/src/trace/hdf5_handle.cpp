#include "trace/hdf5_handle.hpp"

#include <algorithm>
#include <filesystem>
#include <type_traits>
#include <system_error>

#include "gradlab/error.hpp"

namespace gradlab::trace {

Hdf5Handle& Hdf5Handle::operator=(Hdf5Handle&& other) noexcept {
    if (this != &other) {
        reset();
        id_ = other.id_;
        closer_ = other.closer_;
        other.id_ = -1;
    }
    return *this;
}

void Hdf5Handle::reset() noexcept { close(); }

herr_t Hdf5Handle::close() noexcept {
    herr_t status = 0;
    if (id_ >= 0 && closer_ != nullptr) {
        Hdf5ErrorSilencer silencer;
        status = closer_(id_);
    }
    id_ = -1;
    return status;
}

hid_t Hdf5Handle::release() noexcept {
    const hid_t id = id_;
    id_ = -1;
    return id;
}

Hdf5ErrorSilencer::Hdf5ErrorSilencer() noexcept {
    H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Hdf5ErrorSilencer::~Hdf5ErrorSilencer() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }

namespace {

struct ReasonSearch {
    std::string innermost;
};

herr_t collectInnermost(unsigned position, const H5E_error2_t* error, void* data) {
    auto* search = static_cast<ReasonSearch*>(data);
    if (position == 0 && error != nullptr && error->desc != nullptr) search->innermost = error->desc;
    return 0;
}

}  // namespace

std::string hdf5ErrorReason() {
    ReasonSearch search;
    // Walking upward starts at the most specific error (where it happened) and ends at the API call.
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, &collectInnermost, &search);
    const std::string& text = search.innermost;
    if (text.empty()) return "unknown HDF5 error";
    // File driver errors embed the operating system's message: "..., error message = 'No such file', ...".
    const std::string marker = "error message = '";
    const std::size_t start = text.find(marker);
    if (start != std::string::npos) {
        const std::size_t begin = start + marker.size();
        const std::size_t end = text.find('\'', begin);
        if (end != std::string::npos) return text.substr(begin, end - begin);
    }
    return text;
}

hid_t checkHdf5(hid_t id, const std::string& what) {
    if (id < 0) throw Error(what + ": " + hdf5ErrorReason());
    return id;
}

herr_t checkHdf5Status(herr_t status, const std::string& what) {
    if (status < 0) throw Error(what + ": " + hdf5ErrorReason());
    return status;
}

Hdf5Handle openHdf5ReadOnly(const std::string& path) {
    Hdf5ErrorSilencer silencer;
    std::error_code error;
    if (!std::filesystem::exists(path, error)) throw Error("cannot open '" + path + "': no such file");
    if (std::filesystem::is_directory(path, error)) throw Error("cannot open '" + path + "': it is a folder");
    // A FIFO would block the open for ever, a device would be read as garbage: only regular files are opened.
    if (!std::filesystem::is_regular_file(path, error))
        throw Error("cannot open '" + path + "': it is " +
                    (std::filesystem::is_fifo(path, error)       ? std::string("a FIFO")
                     : std::filesystem::is_socket(path, error)   ? std::string("a socket")
                     : std::filesystem::is_block_file(path, error) || std::filesystem::is_character_file(path, error)
                         ? std::string("a device")
                         : std::string("something else")) +
                    ", not a regular file");
#if H5_VERSION_GE(1, 12, 0)
    const htri_t isHdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
    const htri_t isHdf5 = H5Fis_hdf5(path.c_str());
#endif
    if (isHdf5 == 0) throw Error("'" + path + "' is not an HDF5 file");
    if (isHdf5 < 0) throw Error("cannot open '" + path + "': " + hdf5ErrorReason());
    Hdf5Handle file = Hdf5Handle::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!file.valid()) throw Error("cannot open '" + path + "': " + hdf5ErrorReason());
    return file;
}

bool hdf5LinkExists(hid_t location, const std::string& path) {
    Hdf5ErrorSilencer silencer;
    const bool absolute = !path.empty() && path.front() == '/';
    std::string prefix;
    std::size_t start = 0;
    while (start < path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        if (end > start) {
            prefix += (prefix.empty() && !absolute ? "" : "/") + path.substr(start, end - start);
            if (H5Lexists(location, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        }
        start = end + 1;
    }
    return true;
}

namespace {

herr_t collectName(hid_t, const char* name, const H5L_info_t*, void* data) {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
}

}  // namespace

bool hdf5ReadFits(double bytes, hsize_t storedBytes) {
    constexpr double fillBytes = 64.0 * 1024 * 1024;
    constexpr double bytesPerStoredByte = 1100.0;
    return bytes <= fillBytes + bytesPerStoredByte * static_cast<double>(storedBytes);
}

std::vector<std::string> hdf5GroupMembers(hid_t location, const std::string& groupPath) {
    Hdf5ErrorSilencer silencer;
    std::vector<std::string> names;
    hsize_t index = 0;
    const herr_t status = H5Literate_by_name(location, groupPath.c_str(), H5_INDEX_NAME, H5_ITER_INC, &index,
                                             &collectName, &names, H5P_DEFAULT);
    if (status < 0) {
        // Name the file: callers pass a location, and a damaged file fails here (e.g. a bad symbol table). The
        // reason is taken from HDF5's error stack before any other call clears it.
        std::string reason;
        try {
            checkHdf5Status(status, "cannot list group '" + groupPath + "'");
        } catch (const Error& error) {
            reason = error.what();
        }
        std::string file(1024, '\0');
        const ssize_t length = H5Fget_name(location, file.data(), file.size());
        file.resize(length > 0 ? std::min<std::size_t>(static_cast<std::size_t>(length), file.size() - 1) : 0);
        throw Error((file.empty() ? std::string() : "HDF5 file '" + file + "': ") + reason);
    }
    return names;
}

std::vector<std::string> hdf5GroupDatasets(hid_t location, const std::string& groupPath) {
    Hdf5ErrorSilencer silencer;
    std::vector<std::string> datasets;
    const std::string prefix = groupPath == "/" ? "/" : groupPath + "/";
    for (const std::string& name : hdf5GroupMembers(location, groupPath)) {
        H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
        const herr_t status =
            H5Oget_info_by_name3(location, (prefix + name).c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
        const herr_t status =
            H5Oget_info_by_name2(location, (prefix + name).c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
        if (status >= 0 && info.type == H5O_TYPE_DATASET) datasets.push_back(name);
    }
    return datasets;
}

namespace {

herr_t collectDatasetPath(hid_t, const char* name, const H5O_info_t* info, void* data) {
    if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
    return 0;
}

}  // namespace

std::vector<std::string> hdf5AllDatasets(hid_t file, const std::string& where) {
    Hdf5ErrorSilencer silencer;
    std::vector<std::string> datasets;
#if H5_VERSION_GE(1, 12, 0)
    const herr_t status = H5Ovisit3(file, H5_INDEX_NAME, H5_ITER_INC, &collectDatasetPath, &datasets, H5O_INFO_BASIC);
#else
    const herr_t status = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, &collectDatasetPath, &datasets, H5O_INFO_BASIC);
#endif
    checkHdf5Status(status, where + ": cannot list its datasets");
    return datasets;
}

void hdf5CheckDatasetReads(hid_t file, const std::string& path, bool lastRowOnly, const std::string& where) {
    Hdf5ErrorSilencer silencer;
    const std::string what = where + ": cannot read " + (lastRowOnly ? "the last row of '" : "'") + path + "'";
    Hdf5Handle dataset = Hdf5Handle::dataset(checkHdf5(H5Dopen2(file, path.c_str(), H5P_DEFAULT), what));
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), what));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) throw Error(what + ": " + hdf5ErrorReason());
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 1)), 1);
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
    if (rank > 0 && lastRowOnly && dims[0] > 0) {
        start[0] = dims[0] - 1;
        count[0] = 1;
    }
    hsize_t elements = 1;
    for (int d = 0; d < rank; ++d) elements *= count[static_cast<std::size_t>(d)];
    if (elements == 0) return;
    Hdf5Handle fileType = Hdf5Handle::datatype(checkHdf5(H5Dget_type(dataset.get()), what));
    Hdf5Handle memoryType = Hdf5Handle::datatype(checkHdf5(H5Tget_native_type(fileType.get(), H5T_DIR_ASCEND), what));
    const std::size_t size = H5Tget_size(memoryType.get());
    if (size == 0) throw Error(what + ": " + hdf5ErrorReason());
    const double bytes = static_cast<double>(elements) * static_cast<double>(size);
    if (!hdf5ReadFits(bytes, H5Dget_storage_size(dataset.get())))
        throw Error(what + ": it declares " + std::to_string(elements) + " elements, more than the file stores");
    Hdf5Handle memory;
    if (rank > 0) {
        checkHdf5Status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                        what);
        memory = Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(rank, count.data(), nullptr), what));
    } else {
        memory = Hdf5Handle::dataspace(checkHdf5(H5Screate(H5S_SCALAR), what));
    }
    std::vector<unsigned char> buffer(static_cast<std::size_t>(elements) * size);
    checkHdf5Status(H5Dread(dataset.get(), memoryType.get(), memory.get(), space.get(), H5P_DEFAULT, buffer.data()),
                    what);
    if (H5Tdetect_class(memoryType.get(), H5T_VLEN) > 0 || H5Tis_variable_str(memoryType.get()) > 0)
        H5Dvlen_reclaim(memoryType.get(), memory.get(), H5P_DEFAULT, buffer.data());
}

std::string hdf5TypeClassName(hid_t datatype) {
    switch (H5Tget_class(datatype)) {
        case H5T_INTEGER:
            return "integer";
        case H5T_FLOAT:
            return "float";
        case H5T_STRING:
            return "string";
        case H5T_BITFIELD:
            return "bitfield";
        case H5T_OPAQUE:
            return "opaque";
        case H5T_COMPOUND:
            return "compound";
        case H5T_REFERENCE:
            return "reference";
        case H5T_ENUM:
            return "enum";
        case H5T_VLEN:
            return "variable-length sequence";
        case H5T_ARRAY:
            return "array";
        default:
            return "unknown";
    }
}

namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

void deleteAttributeIfPresent(hid_t object, const std::string& name, const std::string& where) {
    const htri_t exists =
        checkHdf5Status(H5Aexists(object, name.c_str()), where + ": cannot look up attribute " + quoted(name));
    if (exists > 0)
        checkHdf5Status(H5Adelete(object, name.c_str()), where + ": cannot replace attribute " + quoted(name));
}

/// Creation properties of a dataset of shape `dims`: one chunk with the fletcher32 checksum filter when
/// `checksummed` and the dataset holds something, else the defaults (contiguous).
Hdf5Handle creationProperties(int rank, const hsize_t* dims, bool checksummed, const std::string& what) {
    Hdf5Handle properties = Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_DATASET_CREATE), what));
    hsize_t elements = 1;
    for (int d = 0; d < rank; ++d) elements *= dims[d];
    if (checksummed && elements > 0) {
        checkHdf5Status(H5Pset_chunk(properties.get(), rank, dims), what);
        checkHdf5Status(H5Pset_fletcher32(properties.get()), what);
    }
    return properties;
}

/// A 1-D dataset of `values.size()` elements of `fileType`, written from `data` in `memoryType`.
void writeVectorDataset(hid_t group, const std::string& name, std::size_t size, hid_t fileType, hid_t memoryType,
                        const void* data, const std::string& where, bool checksummed) {
    const std::string what = where + ": cannot write dataset " + quoted(name);
    const hsize_t dims[1] = {static_cast<hsize_t>(size)};
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(1, dims, nullptr), what));
    Hdf5Handle creation = creationProperties(1, dims, checksummed, what);
    Hdf5Handle dataset = Hdf5Handle::dataset(
        checkHdf5(H5Dcreate2(group, name.c_str(), fileType, space.get(), H5P_DEFAULT, creation.get(), H5P_DEFAULT), what));
    if (size > 0) checkHdf5Status(H5Dwrite(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
}

template <typename Scalar>
void writeMatrix(hid_t group, const std::string& name, const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& matrix,
                 const std::string& where, bool checksummed) {
    const std::string what = where + ": cannot write dataset " + quoted(name);
    const hid_t fileType = std::is_same_v<Scalar, float> ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    const hid_t memoryType = std::is_same_v<Scalar, float> ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    // HDF5 is row-major: a row-major copy gives the dataset Eigen's [rows x cols] orientation.
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rowMajor = matrix;
    const hsize_t dims[2] = {static_cast<hsize_t>(matrix.rows()), static_cast<hsize_t>(matrix.cols())};
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(2, dims, nullptr), what));
    Hdf5Handle creation = creationProperties(2, dims, checksummed, what);
    Hdf5Handle dataset = Hdf5Handle::dataset(
        checkHdf5(H5Dcreate2(group, name.c_str(), fileType, space.get(), H5P_DEFAULT, creation.get(), H5P_DEFAULT), what));
    if (matrix.size() > 0)
        checkHdf5Status(H5Dwrite(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, rowMajor.data()), what);
}

}  // namespace

Hdf5Handle makeUtf8StringType() {
    Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Tcopy(H5T_C_S1), "cannot copy the string type"));
    checkHdf5Status(H5Tset_size(type.get(), H5T_VARIABLE), "cannot make a variable-length string type");
    checkHdf5Status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot make a UTF-8 string type");
    return type;
}

Hdf5Handle openOrCreateGroup(hid_t file, const std::string& path, const std::string& where) {
    if (hdf5LinkExists(file, path))
        return Hdf5Handle::group(
            checkHdf5(H5Gopen2(file, path.c_str(), H5P_DEFAULT), where + ": cannot open group " + quoted(path)));
    Hdf5Handle linkProperties = Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_LINK_CREATE), where));
    checkHdf5Status(H5Pset_create_intermediate_group(linkProperties.get(), 1), where);
    return Hdf5Handle::group(checkHdf5(H5Gcreate2(file, path.c_str(), linkProperties.get(), H5P_DEFAULT, H5P_DEFAULT),
                                       where + ": cannot create group " + quoted(path)));
}

void writeScalarAttribute(hid_t object, const std::string& name, hid_t fileType, hid_t memoryType, const void* data,
                          const std::string& where) {
    deleteAttributeIfPresent(object, name, where);
    const std::string what = where + ": cannot write attribute " + quoted(name);
    Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Screate(H5S_SCALAR), what));
    Hdf5Handle attribute = Hdf5Handle::attribute(
        checkHdf5(H5Acreate2(object, name.c_str(), fileType, space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    checkHdf5Status(H5Awrite(attribute.get(), memoryType, data), what);
}

void writeStringAttribute(hid_t object, const std::string& name, const std::string& value, const std::string& where) {
    Hdf5Handle type = makeUtf8StringType();
    const char* text = value.c_str();
    writeScalarAttribute(object, name, type.get(), type.get(), &text, where);
}

void writeIntegerAttribute(hid_t object, const std::string& name, std::int64_t value, const std::string& where) {
    writeScalarAttribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, where);
}

void writeDoubleAttribute(hid_t object, const std::string& name, double value, const std::string& where) {
    writeScalarAttribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, where);
}

void writeStringDataset(hid_t group, const std::string& name, const std::vector<std::string>& values,
                        const std::string& where, bool checksummed) {
    Hdf5Handle type = makeUtf8StringType();
    std::vector<const char*> pointers;
    pointers.reserve(values.size());
    for (const auto& value : values) pointers.push_back(value.c_str());
    writeVectorDataset(group, name, values.size(), type.get(), type.get(), pointers.data(), where, checksummed);
}

void writeInt64Dataset(hid_t group, const std::string& name, const std::vector<std::int64_t>& values,
                       const std::string& where, bool checksummed) {
    writeVectorDataset(group, name, values.size(), H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), where, checksummed);
}

void writeDoubleDataset(hid_t group, const std::string& name, const std::vector<double>& values,
                        const std::string& where, bool checksummed) {
    writeVectorDataset(group, name, values.size(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.data(), where, checksummed);
}

void writeMatrixDataset(hid_t group, const std::string& name, const Eigen::MatrixXf& matrix, const std::string& where,
                        bool checksummed) {
    writeMatrix<float>(group, name, matrix, where, checksummed);
}

void writeMatrixDataset(hid_t group, const std::string& name, const Eigen::MatrixXd& matrix, const std::string& where,
                        bool checksummed) {
    writeMatrix<double>(group, name, matrix, where, checksummed);
}

}  // namespace gradlab::trace
