#include "support/trace_compare.hpp"

#include <catch2/catch.hpp>

#include "trace/hdf5_handle.hpp"

namespace gradlab::testing {
namespace {

void collect(const trace::TraceReader& reader, const std::string& group, std::vector<std::string>& out) {
    for (const std::string& name : reader.listGroup(group)) {
        const std::string path = (group == "/" ? "/" : group + "/") + name;
        if (reader.hasDataset(path))
            out.push_back(path);
        else
            collect(reader, path, out);
    }
}

}  // namespace

std::vector<std::string> listDatasets(const trace::TraceReader& reader, const std::string& group) {
    std::vector<std::string> names;
    collect(reader, group, names);
    return names;
}

std::string datasetBytes(const trace::TraceReader& reader, const std::string& path) {
    const trace::Hdf5Handle file = trace::openHdf5ReadOnly(reader.path());
    const trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dopen2(file.get(), path.c_str(), H5P_DEFAULT));
    const trace::Hdf5Handle type = trace::Hdf5Handle::datatype(H5Dget_type(dataset.get()));
    std::string bytes;
    for (hsize_t extent : reader.datasetShape(path)) bytes += std::to_string(extent) + "x";
    if (H5Tget_class(type.get()) == H5T_STRING) {
        for (const std::string& text : reader.readStrings(path)) bytes += text + '\0';
        return bytes;
    }
    // [S], [S x W] or a probe's [S x cell...] (flattened: the bytes are the same).
    const Eigen::MatrixXd values = reader.datasetShape(path).size() > 2 ? reader.readFlattened(path) : reader.readMatrix(path);
    bytes.append(reinterpret_cast<const char*>(values.data()), sizeof(double) * static_cast<std::size_t>(values.size()));
    return bytes;
}

void checkSameTrace(const std::string& expectedPath, const std::string& actualPath) {
    const trace::TraceReader expected(expectedPath), actual(actualPath);
    const std::vector<std::string> names = listDatasets(expected);
    REQUIRE(names == listDatasets(actual));
    for (const std::string& name : names) {
        INFO(name);
        CHECK(datasetBytes(expected, name) == datasetBytes(actual, name));
    }
    CHECK(actual.stringAttribute("status") == expected.stringAttribute("status"));
    CHECK(actual.stringAttribute("config") == expected.stringAttribute("config"));
}

}  // namespace gradlab::testing
