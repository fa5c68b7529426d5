#include <catch2/catch.hpp>
#include <hdf5.h>

#include <string>
#include <vector>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::scratchPath;
using gradlab::testing::spec;

namespace {

/// Writes `data` (row-major, as numpy does) as dataset `name` of shape `dims`, creating intermediate groups.
template <typename T>
void writeDataset(hid_t file, const std::string& name, const std::vector<hsize_t>& dims, const std::vector<T>& data,
                  hid_t type) {
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t links = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(links, 1);
    const hid_t dataset = H5Dcreate2(file, name.c_str(), type, space, links, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(dataset >= 0);
    REQUIRE(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) >= 0);
    H5Dclose(dataset);
    H5Pclose(links);
    H5Sclose(space);
}

/// A file with /W [3 x 2] = [[1, 2], [3, 4], [5, 6]], /layers/0/b [3] = [7, 8, 9] and /counts [2 x 2] integers.
std::string makeFile() {
    const std::string path = scratchPath("from_file_test.h5");
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(file >= 0);
    writeDataset<double>(file, "W", {3, 2}, {1, 2, 3, 4, 5, 6}, H5T_NATIVE_DOUBLE);
    writeDataset<double>(file, "layers/0/b", {3}, {7, 8, 9}, H5T_NATIVE_DOUBLE);
    writeDataset<int>(file, "counts", {2, 2}, {1, -2, 3, -4}, H5T_NATIVE_INT);
    H5Fclose(file);
    return path;
}

template <typename Scalar = double>
Matrix<Scalar> load(const std::string& file, const std::string& dataset, gradlab::Index rows, gradlab::Index cols) {
    gradlab::Random random(1);
    Matrix<Scalar> value = Matrix<Scalar>::Constant(rows, cols, Scalar(-99));
    const std::string yaml = "{kind: from_file, file: '" + file + "', dataset: '" + dataset + "'}";
    builtinPlugins().makeInitializer<Scalar>(spec(PluginKind::initializer, yaml))
        ->initialize(value, gradlab::ParameterInit{}, random);
    return value;
}

}  // namespace

TEST_CASE("from_file: reads an HDF5 dataset into a parameter", "[plugins][initializers]") {
    const std::string file = makeFile();

    SECTION("a 2-D dataset, row-major as numpy writes it") {
        Matrix<double> expected(3, 2);
        expected << 1, 2, 3, 4, 5, 6;
        CHECK(load(file, "W", 3, 2) == expected);
        CHECK(load<float>(file, "/W", 3, 2) == expected.cast<float>());
    }
    SECTION("a 1-D dataset fills a column, from a nested group") {
        Matrix<double> expected(3, 1);
        expected << 7, 8, 9;
        CHECK(load(file, "/layers/0/b", 3, 1) == expected);
    }
    SECTION("integers are converted") {
        Matrix<double> expected(2, 2);
        expected << 1, -2, 3, -4;
        CHECK(load(file, "counts", 2, 2) == expected);
    }
}

TEST_CASE("from_file: errors name the file, the dataset, found and expected shapes", "[plugins][initializers]") {
    const std::string file = makeFile();
    SECTION("shape mismatch") {
        CHECK_THROWS_WITH(load(file, "W", 2, 3), Catch::Contains(file) && Catch::Contains("'W'") &&
                                                     Catch::Contains("found shape [3 x 2]") &&
                                                     Catch::Contains("expected [2 x 3]"));
        CHECK_THROWS_WITH(load(file, "layers/0/b", 1, 3), Catch::Contains("found shape [3]") &&
                                                              Catch::Contains("expected [1 x 3]"));
    }
    SECTION("missing dataset") {
        CHECK_THROWS_WITH(load(file, "nothing/here", 3, 2), Catch::Contains(file) && Catch::Contains("'nothing/here'") &&
                                                                Catch::Contains("no such dataset"));
    }
    SECTION("missing file") {
        const std::string missing = scratchPath("does_not_exist.h5");
        CHECK_THROWS_WITH(load(missing, "W", 3, 2), Catch::Contains(missing) && Catch::Contains("cannot open"));
    }
    SECTION("file and dataset are required") {
        CHECK_THROWS_WITH(spec(PluginKind::initializer, "{kind: from_file, dataset: W}"), Catch::Contains("file"));
        CHECK_THROWS_WITH(spec(PluginKind::initializer, "{kind: from_file, file: x.h5}"), Catch::Contains("dataset"));
    }
}
