#include "trace/trace_table.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "gradlab/error.hpp"
#include "util/suggest.hpp"

namespace gradlab::trace {

namespace {

constexpr hsize_t scalarChunkRows = 1024;
constexpr hsize_t matrixChunkElements = 16384;
constexpr unsigned deflateLevel = 4;

std::string inQuotes(const std::string& text) { return "'" + text + "'"; }

}  // namespace

const char* columnTypeName(ColumnType type) {
    switch (type) {
        case ColumnType::float64: return "float64";
        case ColumnType::int64: return "int64";
        case ColumnType::string: return "string";
    }
    return "unknown";
}

Table::Table(std::string group, std::string filePath, std::int64_t capacityRows, std::int64_t keptRows)
    : group_(std::move(group)),
      filePath_(std::move(filePath)),
      capacityRows_(capacityRows),
      writtenRows_(keptRows),
      keptRows_(keptRows) {}

ColumnId Table::addColumn(const std::string& name, Index width, ColumnType type) {
    const std::string where = "trace file " + inQuotes(filePath_) + ", table " + inQuotes(group_);
    if (rows() > keptRows_ || datasetsCreated_)
        throw Error(where + ": cannot add column " + inQuotes(name) + " after rows were committed");
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        throw Error(where + ": invalid column name " + inQuotes(name));
    if (width < 0) throw Error(where + ": column " + inQuotes(name) + " has negative width " + std::to_string(width));
    if (type == ColumnType::string && width != 0)
        throw Error(where + ": string column " + inQuotes(name) + " must have width 0, got " + std::to_string(width));
    for (const auto& column : columns_)
        if (column.name == name) throw Error(where + ": duplicate column " + inQuotes(name));
    Column column;
    column.name = name;
    column.width = width;
    if (width > 0) column.cellShape = {width};
    column.type = type;
    resizeBuffer(column);
    columns_.push_back(std::move(column));
    resetRow(columns_.back(), 0);
    return ColumnId{columns_.size() - 1};
}

ColumnId Table::addArrayColumn(const std::string& name, const std::vector<Index>& cellShape) {
    Index elements = 1;
    for (Index extent : cellShape) {
        if (extent < 1)
            throw Error("trace file " + inQuotes(filePath_) + ", table " + inQuotes(group_) + ": column " +
                        inQuotes(name) + " has an extent " + std::to_string(extent) + " below 1");
        elements *= extent;
    }
    const ColumnId id = addColumn(name, cellShape.empty() ? 0 : elements);
    columns_[id.index].cellShape = cellShape;
    return id;
}

std::vector<Index> Table::cellShape(ColumnId column) const { return columns_.at(column.index).cellShape; }

namespace {

/// The extents of a column's dataset: the row count, then its cell shape.
std::vector<hsize_t> datasetExtents(hsize_t rows, const std::vector<Index>& cellShape) {
    std::vector<hsize_t> extents{rows};
    for (Index extent : cellShape) extents.push_back(static_cast<hsize_t>(extent));
    return extents;
}

/// "[S]", "[S x 4]", "[S x 8 x 16]".
std::string shapeText(const std::vector<Index>& cellShape) {
    std::string text = "[S";
    for (Index extent : cellShape) text += " x " + std::to_string(extent);
    return text + "]";
}

}  // namespace

ColumnId Table::column(const std::string& name) const {
    for (std::size_t index = 0; index < columns_.size(); ++index)
        if (columns_[index].name == name) return ColumnId{index};
    throw Error("trace file " + inQuotes(filePath_) + ", table " + inQuotes(group_) + ": no column " + inQuotes(name) +
                suggestionSuffix(name, columnNames()));
}

std::vector<std::string> Table::columnNames() const {
    std::vector<std::string> names;
    for (const auto& column : columns_) names.push_back(column.name);
    return names;
}

Table::Column& Table::checkedColumn(ColumnId id, ColumnType type) {
    if (id.index >= columns_.size())
        throw Error("trace file " + inQuotes(filePath_) + ", table " + inQuotes(group_) + ": column id " +
                    std::to_string(id.index) + " out of range (" + std::to_string(columns_.size()) + " columns)");
    Column& column = columns_[id.index];
    if (column.type != type)
        throw Error("trace file " + inQuotes(filePath_) + ", table " + inQuotes(group_) + ": column " +
                    inQuotes(column.name) + " is " + columnTypeName(column.type) + ", not " + columnTypeName(type));
    return column;
}

double* Table::row(ColumnId id) {
    Column& column = checkedColumn(id, ColumnType::float64);
    return column.values.data() + bufferedRows_ * column.slots();
}

std::int64_t* Table::integerRow(ColumnId id) {
    Column& column = checkedColumn(id, ColumnType::int64);
    return column.integers.data() + bufferedRows_ * column.slots();
}

void Table::setString(ColumnId id, const std::string& value) {
    Column& column = checkedColumn(id, ColumnType::string);
    column.strings[static_cast<std::size_t>(bufferedRows_)] = value;
}

void Table::resetRow(Column& column, std::int64_t rowIndex) {
    const Index slots = column.slots();
    if (column.type == ColumnType::float64) {
        double* first = column.values.data() + rowIndex * slots;
        std::fill(first, first + slots, std::numeric_limits<double>::quiet_NaN());
    } else if (column.type == ColumnType::int64) {
        std::int64_t* first = column.integers.data() + rowIndex * slots;
        std::fill(first, first + slots, std::int64_t{0});
    } else {
        column.strings[static_cast<std::size_t>(rowIndex)].clear();  // keeps its capacity: no allocation
    }
}

void Table::resizeBuffer(Column& column) {
    const std::size_t elements = static_cast<std::size_t>(capacityRows_) * static_cast<std::size_t>(column.slots());
    if (column.type == ColumnType::float64)
        column.values.resize(elements);
    else if (column.type == ColumnType::int64)
        column.integers.resize(elements);
    else
        column.strings.resize(elements);
}

void Table::reserveRows(std::int64_t capacityRows) {
    capacityRows_ = capacityRows;
    for (auto& column : columns_) resizeBuffer(column);
}

void Table::commit() {
    ++bufferedRows_;
    // The buffers always hold the row being filled after the committed ones; grow only if nobody flushed.
    if (bufferedRows_ + 1 > capacityRows_) reserveRows(2 * capacityRows_);
    for (auto& column : columns_) resetRow(column, bufferedRows_);
}

void Table::createDatasets(hid_t groupLocation) {
    for (auto& column : columns_) {
        const std::string what =
            "trace file " + inQuotes(filePath_) + ": cannot create dataset " + inQuotes(group_ + "/" + column.name);
        const int rank = 1 + static_cast<int>(column.cellShape.size());
        const hsize_t width = static_cast<hsize_t>(column.width);
        const std::vector<hsize_t> dims = datasetExtents(0, column.cellShape);
        std::vector<hsize_t> maxDims = dims;
        maxDims[0] = H5S_UNLIMITED;
        // A chunk holds at most one flush's rows, so that a flush writes whole new chunks rather than rewriting
        // (and, with file space never reused, re-allocating) a partly filled one.
        const hsize_t flushRows = static_cast<hsize_t>(std::max<std::int64_t>(1, capacityRows_ - 1));
        std::vector<hsize_t> chunk = datasetExtents(
            std::min(flushRows, rank == 1 ? scalarChunkRows
                                          : std::max<hsize_t>(1, matrixChunkElements / std::max<hsize_t>(1, width))),
            column.cellShape);
        Hdf5Handle space =
            Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(rank, dims.data(), maxDims.data()), what));
        Hdf5Handle properties = Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_DATASET_CREATE), what));
        checkHdf5Status(H5Pset_chunk(properties.get(), rank, chunk.data()), what);
        checkHdf5Status(H5Pset_shuffle(properties.get()), what);
        checkHdf5Status(H5Pset_deflate(properties.get(), deflateLevel), what);
        hid_t fileType = H5T_STD_I64LE;
        Hdf5Handle stringType;
        if (column.type == ColumnType::float64) {
            fileType = H5T_IEEE_F64LE;
            const double fill = std::numeric_limits<double>::quiet_NaN();
            checkHdf5Status(H5Pset_fill_value(properties.get(), H5T_NATIVE_DOUBLE, &fill), what);
        } else if (column.type == ColumnType::string) {
            // Variable-length strings: the filters compress the chunks of heap references, the text itself
            // lives in the file's global heap. The default fill (a null string) reads back as "".
            stringType = makeUtf8StringType();
            fileType = stringType.get();
        }
        column.dataset =
            Hdf5Handle::dataset(checkHdf5(H5Dcreate2(groupLocation, column.name.c_str(), fileType, space.get(),
                                                     H5P_DEFAULT, properties.get(), H5P_DEFAULT),
                                          what));
    }
    datasetsCreated_ = true;
}

void Table::openDatasets(hid_t groupLocation) {
    const std::string where = "cannot resume the trace " + inQuotes(filePath_) + ": table " + inQuotes(group_);
    std::vector<std::string> found = hdf5GroupDatasets(groupLocation, ".");
    for (auto& column : columns_) {
        const auto position = std::find(found.begin(), found.end(), column.name);
        if (position == found.end()) throw Error(where + " has no column " + inQuotes(column.name));
        found.erase(position);
        column.dataset = Hdf5Handle::dataset(checkHdf5(H5Dopen2(groupLocation, column.name.c_str(), H5P_DEFAULT),
                                                       where + ": cannot open column " + inQuotes(column.name)));
        Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(column.dataset.get()), where));
        Hdf5Handle type = Hdf5Handle::datatype(checkHdf5(H5Dget_type(column.dataset.get()), where));
        const int rank = H5Sget_simple_extent_ndims(space.get());
        std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 1)), 0);
        if (rank >= 1) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
        const H5T_class_t typeClass = H5Tget_class(type.get());
        const H5T_class_t expectedClass = column.type == ColumnType::float64 ? H5T_FLOAT
                                          : column.type == ColumnType::int64 ? H5T_INTEGER
                                                                             : H5T_STRING;
        std::vector<hsize_t> expected = datasetExtents(dims[0], column.cellShape);
        if (rank != static_cast<int>(expected.size()) || dims != expected || typeClass != expectedClass)
            throw Error(where + ": column " + inQuotes(column.name) + " in the file is not " +
                        columnTypeName(column.type) + " " + shapeText(column.cellShape) + " as this run writes it");
        if (dims[0] != static_cast<hsize_t>(keptRows_))
            throw Error(where + ": column " + inQuotes(column.name) + " holds " + std::to_string(dims[0]) +
                        " rows, expected " + std::to_string(keptRows_));
    }
    if (!found.empty())
        throw Error(where + ": the file has column " + inQuotes(found.front()) + " that this run does not write");
    datasetsCreated_ = true;
}

void Table::flush(hid_t groupLocation) {
    if (!datasetsCreated_) existing_ ? openDatasets(groupLocation) : createDatasets(groupLocation);
    if (bufferedRows_ == 0) return;
    const hsize_t start = static_cast<hsize_t>(writtenRows_);
    const hsize_t count = static_cast<hsize_t>(bufferedRows_);
    for (auto& column : columns_) {
        const std::string what =
            "trace file " + inQuotes(filePath_) + ": cannot write rows to " + inQuotes(group_ + "/" + column.name);
        const int rank = 1 + static_cast<int>(column.cellShape.size());
        const std::vector<hsize_t> newDims = datasetExtents(start + count, column.cellShape);
        checkHdf5Status(H5Dset_extent(column.dataset.get(), newDims.data()), what);
        Hdf5Handle fileSpace = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(column.dataset.get()), what));
        std::vector<hsize_t> offset(static_cast<std::size_t>(rank), 0);
        offset[0] = start;
        const std::vector<hsize_t> block = datasetExtents(count, column.cellShape);
        checkHdf5Status(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, offset.data(), nullptr, block.data(),
                                            nullptr),
                        what);
        Hdf5Handle memorySpace =
            Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(rank, block.data(), nullptr), what));
        if (column.type == ColumnType::float64) {
            checkHdf5Status(H5Dwrite(column.dataset.get(), H5T_NATIVE_DOUBLE, memorySpace.get(), fileSpace.get(),
                                     H5P_DEFAULT, column.values.data()),
                            what);
        } else if (column.type == ColumnType::int64) {
            checkHdf5Status(H5Dwrite(column.dataset.get(), H5T_NATIVE_INT64, memorySpace.get(), fileSpace.get(),
                                     H5P_DEFAULT, column.integers.data()),
                            what);
        } else {
            Hdf5Handle stringType = makeUtf8StringType();
            std::vector<const char*> pointers(static_cast<std::size_t>(count));
            for (std::size_t index = 0; index < pointers.size(); ++index)
                pointers[index] = column.strings[index].c_str();
            checkHdf5Status(H5Dwrite(column.dataset.get(), stringType.get(), memorySpace.get(), fileSpace.get(),
                                     H5P_DEFAULT, pointers.data()),
                            what);
        }
    }
    // Move the row being filled (possibly partly set) to the front of the buffers.
    for (auto& column : columns_) {
        const Index slots = column.slots();
        if (column.type == ColumnType::float64)
            std::copy_n(column.values.data() + bufferedRows_ * slots, slots, column.values.data());
        else if (column.type == ColumnType::int64)
            std::copy_n(column.integers.data() + bufferedRows_ * slots, slots, column.integers.data());
        else
            std::swap(column.strings.front(), column.strings[static_cast<std::size_t>(bufferedRows_)]);
    }
    writtenRows_ += bufferedRows_;
    bufferedRows_ = 0;
}

void Table::closeDatasets() noexcept {
    for (auto& column : columns_) column.dataset.reset();
}

}  // namespace gradlab::trace
