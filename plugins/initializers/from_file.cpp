/// @file from_file.cpp
/// The from_file initializer: a parameter's initial value read from a dataset of an HDF5 file
/// (e.g. weights saved with numpy/h5py, or a trained network's parameters).

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// An HDF5 identifier closed by `close` when it goes out of scope.
class Handle {
public:
    Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() {
        if (id_ >= 0) close_(id_);
    }
    /// The raw identifier (negative if the call that made it failed).
    hid_t get() const { return id_; }

private:
    hid_t id_;
    herr_t (*close_)(hid_t);
};

/// Silences HDF5's automatic error printing while in scope (errors become our exceptions), then restores it.
class QuietHdf5Errors {
public:
    QuietHdf5Errors() {
        H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    QuietHdf5Errors(const QuietHdf5Errors&) = delete;
    QuietHdf5Errors& operator=(const QuietHdf5Errors&) = delete;
    ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }

private:
    H5E_auto2_t function_ = nullptr;
    void* data_ = nullptr;
};

/// "[3 x 4]".
std::string shapeText(const std::vector<hsize_t>& dims) {
    std::string text = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? " x " : "") + std::to_string(dims[i]);
    return text + "]";
}

/// Copies the numeric dataset `dataset` of the HDF5 file `file` into the parameter. The dataset is
/// [rows x cols] in row-major order (as numpy and h5py write it) or 1-D [n] for a [n x 1] parameter; integer
/// and float datasets are converted by HDF5. Errors name the file, the dataset, found and expected shapes.
template <typename Scalar>
class FromFile : public gradlab::Initializer<Scalar> {
public:
    /// Reads `file` and `dataset`.
    explicit FromFile(const gradlab::Options& options)
        : file_(options.string("file")), dataset_(options.string("dataset")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        QuietHdf5Errors quiet;
        const std::string where = "from_file: '" + file_ + "' dataset '" + dataset_ + "'";
        Handle file(H5Fopen(file_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
        if (file.get() < 0) throw gradlab::Error("from_file: cannot open HDF5 file '" + file_ + "'");
        if (H5Lexists(file.get(), dataset_.c_str(), H5P_DEFAULT) <= 0)
            throw gradlab::Error(where + ": no such dataset in the file");
        Handle dataset(H5Dopen2(file.get(), dataset_.c_str(), H5P_DEFAULT), H5Dclose);
        if (dataset.get() < 0) throw gradlab::Error(where + ": not a dataset");
        Handle type(H5Dget_type(dataset.get()), H5Tclose);
        const H5T_class_t typeClass = H5Tget_class(type.get());
        if (typeClass != H5T_FLOAT && typeClass != H5T_INTEGER)
            throw gradlab::Error(where + ": expected a numeric dataset (float or integer)");
        Handle space(H5Dget_space(dataset.get()), H5Sclose);
        const int rank = H5Sget_simple_extent_ndims(space.get());
        if (rank < 0) throw gradlab::Error(where + ": cannot read the dataset's shape");
        std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
        if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);

        const auto rows = static_cast<hsize_t>(value.rows()), cols = static_cast<hsize_t>(value.cols());
        const bool fits = (rank == 2 && dims[0] == rows && dims[1] == cols) || (rank == 1 && dims[0] == rows && cols == 1);
        if (!fits)
            throw gradlab::Error(where + ": found shape " + shapeText(dims) + ", expected " +
                                 shapeText({rows, cols}) + (cols == 1 ? " or [" + std::to_string(rows) + "]" : "") +
                                 " (the parameter's shape; datasets are row-major, as numpy writes them)");

        std::vector<double> buffer(static_cast<std::size_t>(rows * cols));
        if (!buffer.empty() &&
            H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
            throw gradlab::Error(where + ": reading the data failed");
        using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        value = Eigen::Map<const RowMajor>(buffer.data(), value.rows(), value.cols()).cast<Scalar>();
    }

private:
    std::string file_;
    std::string dataset_;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_from_file", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry.addInitializer<FromFile>("from_file", "values read from an HDF5 dataset [rows x cols] (row-major, "
                                                   "as numpy writes it; 1-D for a column)")
        .option(OptionSpec::path("file", "the HDF5 file (relative to the config's folder)"))
        .option(OptionSpec::string("dataset", "", "path of the dataset inside the file, e.g. /layers/0/W")
                    .requiredValue());
}
