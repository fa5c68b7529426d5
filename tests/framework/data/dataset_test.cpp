#include <catch2/catch.hpp>

#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>

#include "data/dataset.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"
#include "trace/hdf5_handle.hpp"

using namespace gradlab::data;
using Catch::Matchers::Contains;
using gradlab::Error;
using gradlab::Index;
using gradlab::trace::Hdf5Handle;

namespace {

/// A unique path in the temporary folder, removed when the test ends.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& name) {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("gradlab-data-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + name))
                    .string();
    }
    ~TemporaryFile() {
        std::error_code error;
        std::filesystem::remove(path_, error);
    }
    const std::string& path() const { return path_; }
    /// Writes `text` to the file.
    const std::string& write(const std::string& text) const {
        std::ofstream(path_) << text;
        return path_;
    }

private:
    std::string path_;
};

/// Writes a [rows x cols] (or 1-D when cols == 0) dataset of `type` from row-major `values`.
void writeDataset(hid_t file, const char* name, hid_t type, hid_t memoryType, const void* values, hsize_t rows,
                  hsize_t cols) {
    const hsize_t dims[2] = {rows, cols};
    Hdf5Handle space = Hdf5Handle::dataspace(H5Screate_simple(cols == 0 ? 1 : 2, dims, nullptr));
    Hdf5Handle dataset =
        Hdf5Handle::dataset(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(dataset.valid());
    REQUIRE(H5Dwrite(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
}

}  // namespace

TEST_CASE("random_regression draws N(0,1) inputs and targets, reproducibly", "[data]") {
    const Dataset data = makeRandomRegression(500, 40, 3, 7);
    CHECK(data.inputs.rows() == 40);
    CHECK(data.inputs.cols() == 500);
    CHECK(data.targets.rows() == 3);
    CHECK(data.targets.cols() == 500);
    CHECK(data.classes == 0);
    CHECK(data.description == "random_regression: 500 samples, x~N(0,1)[40], y~N(0,1)[3]");
    const double mean = data.inputs.mean();
    const double variance = (data.inputs.array() - mean).square().mean();
    CHECK(std::abs(mean) < 0.02);  // 20000 draws: standard error 0.007
    CHECK(std::abs(std::sqrt(variance) - 1.0) < 0.02);
    CHECK(std::abs(data.targets.mean()) < 0.1);

    const Dataset same = makeRandomRegression(500, 40, 3, 7);
    CHECK(same.inputs == data.inputs);
    CHECK(same.targets == data.targets);
    const Dataset other = makeRandomRegression(500, 40, 3, 8);
    CHECK(other.inputs != data.inputs);

    // The draw order is x sample by sample, then y: the first sample's features are the stream's first draws.
    gradlab::Random random(7);
    CHECK(data.inputs(0, 0) == random.normal());
    CHECK(data.inputs(1, 0) == random.normal());
    CHECK_THROWS_WITH(makeRandomRegression(0, 4, 1, 0), Contains("samples must be at least 1, got 0"));

    // input_std scales x only: the same draws times the std, the same targets.
    const Dataset scaled = makeRandomRegression(500, 40, 3, 7, 0.25);
    CHECK(scaled.inputs == 0.25 * data.inputs);
    CHECK(scaled.targets == data.targets);
    CHECK(scaled.description == "random_regression: 500 samples, x~N(0,0.25^2)[40], y~N(0,1)[3]");
    CHECK_THROWS_WITH(makeRandomRegression(5, 4, 1, 0, 0.0), Contains("input_std must be finite and > 0, got 0"));
}

TEST_CASE("teacher targets come from a fixed tanh network, reproducibly", "[data]") {
    const Dataset data = makeTeacher(200, 5, 2, {8, 4}, 0.0, 3);
    CHECK(data.inputs.rows() == 5);
    CHECK(data.targets.rows() == 2);
    CHECK(data.targets.cols() == 200);
    CHECK(data.description == "teacher: 200 samples, x~N(0,1)[5], tanh teacher 5-8-4-2, noise std 0");
    const Dataset same = makeTeacher(200, 5, 2, {8, 4}, 0.0, 3);
    CHECK(same.targets == data.targets);
    CHECK(makeTeacher(200, 5, 2, {8, 4}, 0.0, 4).targets != data.targets);

    // Recompute the teacher from the documented draw order: x, then each layer's weights column-major.
    gradlab::Random random(3);
    Eigen::MatrixXd x(5, 200);
    for (Index column = 0; column < 200; ++column)
        for (Index row = 0; row < 5; ++row) x(row, column) = random.normal();
    CHECK(x == data.inputs);
    auto weights = [&](Index rows, Index fanIn) {
        Eigen::MatrixXd w(rows, fanIn);
        for (Index column = 0; column < fanIn; ++column)
            for (Index row = 0; row < rows; ++row) w(row, column) = random.normal() / std::sqrt(double(fanIn));
        return w;
    };
    const Eigen::MatrixXd w1 = weights(8, 5), w2 = weights(4, 8), w3 = weights(2, 4);
    const Eigen::MatrixXd expected = w3 * (w2 * (w1 * x).array().tanh().matrix()).array().tanh().matrix();
    CHECK((expected - data.targets).cwiseAbs().maxCoeff() < 1e-12);

    // Noise adds N(0, noiseStd^2) after the same teacher.
    const Dataset noisy = makeTeacher(200, 5, 2, {8, 4}, 0.5, 3);
    const Eigen::MatrixXd noise = noisy.targets - data.targets;
    const double noiseStd = std::sqrt(noise.array().square().mean());
    CHECK(noiseStd > 0.4);
    CHECK(noiseStd < 0.6);
    CHECK_THROWS_WITH(makeTeacher(10, 5, 2, {0}, 0.0, 3), Contains("every hidden width must be at least 1"));
}

TEST_CASE("spirals split samples over classes with class-index targets", "[data]") {
    const Dataset data = makeSpirals(301, 3, 0.2, 1);
    CHECK(data.inputs.rows() == 2);
    CHECK(data.inputs.cols() == 301);
    CHECK(data.targets.rows() == 1);
    CHECK(data.classes == 3);
    std::vector<int> counts(3, 0);
    for (Index sample = 0; sample < data.samples(); ++sample) counts[static_cast<int>(data.targets(0, sample))]++;
    CHECK(counts == std::vector<int>{101, 100, 100});
    // Radii grow from 0 to 1 along each arm, whatever the angle noise.
    const Eigen::VectorXd radius = data.inputs.colwise().norm();
    CHECK(radius(0) == 0.0);
    CHECK(radius(100) == Approx(1.0));
    CHECK(radius(101) == 0.0);
    CHECK(radius.maxCoeff() <= 1.0 + 1e-12);
    // Without noise the first arm's last point is at angle 4: (sin 4, cos 4).
    const Dataset clean = makeSpirals(300, 3, 0.0, 1);
    CHECK(clean.inputs(0, 99) == Approx(std::sin(4.0)));
    CHECK(clean.inputs(1, 99) == Approx(std::cos(4.0)));
    CHECK(makeSpirals(301, 3, 0.2, 1).inputs == data.inputs);
    CHECK_THROWS_WITH(makeSpirals(2, 3, 0.2, 1), Contains("need at least one sample per class"));
}

TEST_CASE("CSV files load with or without header, targets by name or index", "[data]") {
    TemporaryFile file("table.csv");
    SECTION("header, target by name, classification") {
        file.write("x1,x2,label,x3\n1,2,0,3\n\n4,5,2,6\n\"7\", 8 ,1,9\r\n");
        CsvSpec spec;
        spec.targetColumns = {"label"};
        spec.classification = true;
        const Dataset data = loadCsv(file.path(), spec);
        Eigen::MatrixXd inputs(3, 3);
        inputs << 1, 4, 7, 2, 5, 8, 3, 6, 9;
        CHECK(data.inputs == inputs);
        CHECK(data.targets == Eigen::RowVector3d(0, 2, 1));
        CHECK(data.classes == 3);
        CHECK_THAT(data.description, Contains("3 samples, 3 inputs, targets [label], 3 classes"));
    }
    SECTION("no header, targets by index, default last column") {
        file.write("1;2;3\n4;5;6\n");
        CsvSpec spec;
        spec.header = false;
        spec.delimiter = ';';
        Dataset data = loadCsv(file.path(), spec);
        CHECK(data.inputs.rows() == 2);
        CHECK(data.targets == Eigen::RowVector2d(3, 6));
        spec.targetColumns = {"0", "-2"};
        data = loadCsv(file.path(), spec);
        CHECK(data.inputs == Eigen::RowVector2d(3, 6));
        Eigen::MatrixXd targets(2, 2);
        targets << 1, 4, 2, 5;
        CHECK(data.targets == targets);
        CHECK(data.classes == 0);
    }
    SECTION("header, target by index") {
        file.write("a,b,c\n1,2,3\n");
        CsvSpec spec;
        spec.targetColumns = {"1"};
        CHECK(loadCsv(file.path(), spec).targets(0, 0) == 2.0);
    }
}

TEST_CASE("CSV errors name the file, the line and the column", "[data]") {
    TemporaryFile file("bad.csv");
    CsvSpec spec;
    SECTION("wrong column count") {
        file.write("x1,x2,y\n1,2,3\n\n4,5\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), file.path() + ":4: expected 3 columns, found 2");
    }
    SECTION("not a number") {
        file.write("x1,x2,y\n1,2,3\n4,abc,6\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), file.path() + ":3: column 'x2': 'abc' is not a number");
    }
    SECTION("not a number, no header") {
        file.write("1,2,3\n4,,6\n");
        spec.header = false;
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), file.path() + ":2: column index 1: '' is not a number");
    }
    SECTION("non-finite number") {
        file.write("x1,y\nnan,1\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), Contains(":2: column 'x1': 'nan' is not a finite number"));
    }
    SECTION("unknown target column lists the header") {
        file.write("x1,x2,label\n1,2,3\n");
        spec.targetColumns = {"labl"};
        CHECK_THROWS_WITH(loadCsv(file.path(), spec),
                          Contains("unknown target column 'labl' (did you mean 'label'? known: label, x1, x2)"));
    }
    SECTION("target index out of range") {
        file.write("1,2,3\n");
        spec.header = false;
        spec.targetColumns = {"3"};
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), Contains("target column index 3 is out of range (3 columns"));
    }
    SECTION("bad class labels") {
        spec.classification = true;
        file.write("x,y\n1,0\n2,1.5\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec),
                          file.path() + ":3: column 'y': class label '1.5' is not a non-negative integer");
        file.write("x,y\n1,0\n2,1\n3,-1\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), Contains(":4: column 'y': class label '-1'"));
    }
    SECTION("missing file and empty file") {
        CHECK_THROWS_WITH(loadCsv(file.path() + ".missing", spec),
                          Contains("cannot open '" + file.path() + ".missing'"));
        file.write("x,y\n");
        CHECK_THROWS_WITH(loadCsv(file.path(), spec), file.path() + ": no data rows");
    }
}

TEST_CASE("HDF5 data sets load from numpy-style [samples x features] arrays", "[data]") {
    TemporaryFile file("data.h5");
    {
        Hdf5Handle h5 = Hdf5Handle::file(H5Fcreate(file.path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        REQUIRE(h5.valid());
        const float inputs[4][3] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}};  // 4 samples x 3 features
        writeDataset(h5.get(), "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, inputs, 4, 3);
        const std::int32_t labels[4] = {0, 2, 1, 2};
        writeDataset(h5.get(), "y", H5T_STD_I32LE, H5T_NATIVE_INT32, labels, 4, 0);
        const std::int32_t badLabels[4] = {0, -1, 1, 2};
        writeDataset(h5.get(), "bad_labels", H5T_STD_I32LE, H5T_NATIVE_INT32, badLabels, 4, 0);
        const double regression[4][2] = {{0.5, 1}, {1.5, 2}, {2.5, 3}, {3.5, 4}};
        writeDataset(h5.get(), "targets", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, regression, 4, 2);
        const double shorter[3] = {1, 2, 3};
        writeDataset(h5.get(), "short", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, shorter, 3, 0);
        const double withNan[4] = {1, 2, std::numeric_limits<double>::quiet_NaN(), 4};
        writeDataset(h5.get(), "with_nan", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, withNan, 4, 0);
        Hdf5Handle stringType = Hdf5Handle::datatype(H5Tcopy(H5T_C_S1));
        H5Tset_size(stringType.get(), 2);
        const char names[4][2] = {{'a', 'b'}, {'c', 'd'}, {'e', 'f'}, {'g', 'h'}};
        writeDataset(h5.get(), "names", stringType.get(), stringType.get(), names, 4, 0);
        // 2^40 x 3 declared, nothing written: chunked storage allocates nothing until written.
        const hsize_t dims[2] = {hsize_t(1) << 40, 3}, maximum[2] = {H5S_UNLIMITED, 3}, chunk[2] = {64, 3};
        Hdf5Handle space = Hdf5Handle::dataspace(H5Screate_simple(2, dims, maximum));
        Hdf5Handle properties = Hdf5Handle::propertyList(H5Pcreate(H5P_DATASET_CREATE));
        REQUIRE(H5Pset_chunk(properties.get(), 2, chunk) >= 0);
        Hdf5Handle huge = Hdf5Handle::dataset(H5Dcreate2(h5.get(), "huge", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                                         properties.get(), H5P_DEFAULT));
        REQUIRE(huge.valid());
    }
    SECTION("classification") {
        const Dataset data = loadHdf5(file.path(), "X", "/y", true);
        Eigen::MatrixXd inputs(3, 4);
        inputs << 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12;
        CHECK(data.inputs == inputs);
        CHECK(data.targets == Eigen::RowVector4d(0, 2, 1, 2));
        CHECK(data.classes == 3);
    }
    SECTION("regression") {
        const Dataset data = loadHdf5(file.path(), "X", "targets", false);
        CHECK(data.targets.rows() == 2);
        CHECK(data.targets(1, 3) == 4.0);
        CHECK(data.targets(0, 2) == 2.5);
        CHECK(data.classes == 0);
    }
    SECTION("errors") {
        CHECK_THROWS_WITH(loadHdf5(file.path(), "x", "y", true),
                          Contains("has no inputs dataset 'x' (did you mean 'X'? datasets at the root: X, bad_labels, "
                                   "huge, names, short, targets, with_nan, y)"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "huge", "y", true),
                          Contains("inputs dataset 'huge' has shape [1099511627776 x 3] but the file stores only 0 "
                                   "bytes for it"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "X", "short", false),
                          Contains("inputs 'X' has 4 samples [4 x 3] but targets 'short' has 3 [3]"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "X", "names", false),
                          Contains("targets dataset 'names' has non-numeric type string"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "X", "bad_labels", true),
                          Contains("sample 1: class label -1 is not a non-negative integer"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "X", "targets", true), Contains("expected one class index per sample"));
        CHECK_THROWS_WITH(loadHdf5(file.path(), "X", "with_nan", false),
                          file.path() + ": targets sample 2, output 0 is NaN (0-based indices)");
        CHECK_THROWS_WITH(loadHdf5(file.path() + ".missing", "X", "y", true), Contains("no such file"));
        TemporaryFile text("text.h5");
        CHECK_THROWS_WITH(loadHdf5(text.write("not hdf5"), "X", "y", true), Contains("is not an HDF5 file"));
    }
}

TEST_CASE("checkFinite names the matrix, sample and feature", "[data]") {
    Dataset data = makeRandomRegression(10, 4, 2, 1);
    CHECK_NOTHROW(checkFinite(data, "random"));
    data.inputs(2, 7) = std::numeric_limits<double>::infinity();
    data.inputs(1, 8) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(checkFinite(data, "source.csv"),
                      "source.csv: inputs sample 7, feature 2 is +inf (0-based indices)");
    data.inputs = Eigen::MatrixXd::Zero(4, 10);
    data.targets(1, 3) = -std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(checkFinite(data, "x"), "x: targets sample 3, output 1 is -inf (0-based indices)");
}

TEST_CASE("splitValidation holds out a disjoint shuffled fraction", "[data]") {
    Dataset data = makeRandomRegression(100, 1, 1, 2);
    for (Index sample = 0; sample < 100; ++sample) data.inputs(0, sample) = double(sample);  // tag samples
    const Split split = splitValidation(data, 0.2, 5);
    CHECK(split.train.samples() == 80);
    CHECK(split.validation.samples() == 20);
    CHECK(split.validation.targets.cols() == 20);
    std::set<double> seen;
    for (Index sample = 0; sample < 80; ++sample) seen.insert(split.train.inputs(0, sample));
    for (Index sample = 0; sample < 20; ++sample) seen.insert(split.validation.inputs(0, sample));
    CHECK(seen.size() == 100);  // disjoint and complete
    // Shuffled: the validation set is not simply the last (or first) 20 samples.
    CHECK(split.validation.inputs(0, 19) - split.validation.inputs(0, 0) > 19.0);
    // Targets travel with their inputs.
    const Index tagged = static_cast<Index>(split.validation.inputs(0, 4));
    CHECK(split.validation.targets(0, 4) == data.targets(0, tagged));
    CHECK(splitValidation(data, 0.2, 5).validation.inputs == split.validation.inputs);
    CHECK(splitValidation(data, 0.2, 6).validation.inputs != split.validation.inputs);

    const Split none = splitValidation(data, 0.0, 5);
    CHECK(none.train.samples() == 100);
    CHECK(none.validation.samples() == 0);
    CHECK(none.validation.inputs.rows() == 1);
    CHECK_THROWS_WITH(splitValidation(data, 1.0, 5), Contains("must be in [0, 1)"));

    const Dataset spirals = makeSpirals(30, 3, 0.1, 1);
    CHECK(splitValidation(spirals, 0.5, 1).validation.classes == 3);
}
