#pragma once
/// @file trace_table.hpp
/// One table of a trace (a group of equally long column datasets), its rows buffered until TraceWriter flushes.

#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/tensor.hpp"
#include "trace/hdf5_handle.hpp"

namespace gradlab::trace {

/// Element type of a table column as stored in the file: IEEE float64, int64, or variable-length UTF-8
/// strings (width 0 only, e.g. the `kind` and `message` columns of /events).
enum class ColumnType { float64, int64, string };

/// The name of a column type as messages and docs spell it: "float64", "int64" or "string".
const char* columnTypeName(ColumnType type);

/// Identifies one column of a Table; returned by Table::addColumn.
struct ColumnId {
    /// Position of the column in its table, in declaration order.
    std::size_t index = 0;
};

class TraceWriter;

/// Rows appended together, one per traced step (group "/trace"), evaluation (group "/eval") or event ("/events").
/// Each column is a dataset of the group: [S] for width 0, [S x width] otherwise, S growing with each row.
/// String columns are always [S].
/// Rows are buffered in memory; commit() never touches HDF5, TraceWriter::flush() writes them.
class Table {
public:
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    /// Declares a column before the first row: width 0 gives a dataset [S], width w gives [S x w].
    /// Throws Error on a duplicate name, a negative width, a string column of width > 0, or once rows were
    /// committed.
    ColumnId addColumn(const std::string& name, Index width = 0, ColumnType type = ColumnType::float64);

    /// Declares a float64 column whose cells are arrays of `cellShape` (row-major): dataset [S x cellShape...];
    /// {} is [S], {w} is [S x w]. Throws as addColumn does, and on a negative extent.
    ColumnId addArrayColumn(const std::string& name, const std::vector<Index>& cellShape);

    /// The cell shape a column was declared with ({} for [S], {w} for [S x w]).
    std::vector<Index> cellShape(ColumnId column) const;

    /// The column with this name; throws Error listing the known columns.
    ColumnId column(const std::string& name) const;

    /// The current row's max(1, width) slots of a float64 column, NaN-initialised for each row;
    /// valid until the next commit() or flush.
    double* row(ColumnId column);

    /// The current row's max(1, width) slots of an int64 column, zero-initialised for each row;
    /// valid until the next commit() or flush.
    std::int64_t* integerRow(ColumnId column);

    /// Sets the current row's value of a width-0 float64 column.
    void set(ColumnId column, double value) { *row(column) = value; }

    /// Sets the current row's value of a width-0 int64 column.
    void setInteger(ColumnId column, std::int64_t value) { *integerRow(column) = value; }

    /// Sets the current row's value of a string column (UTF-8 text, stored as given); a cell left unset is
    /// written as "". Copies the text, so it may allocate.
    void setString(ColumnId column, const std::string& value);

    /// Appends the current row to the buffer and starts a new one. Never touches HDF5 and does not allocate
    /// while fewer than flushEveryRows rows are buffered (the buffer grows if nobody flushes).
    void commit();

    /// Rows committed so far, written or still buffered.
    std::int64_t rows() const { return writtenRows_ + bufferedRows_; }

    /// Rows kept from before a resume (0 in a new trace); columns may be declared until rows beyond them exist.
    std::int64_t keptRows() const { return keptRows_; }

    /// Rows committed but not yet written to the file.
    std::int64_t bufferedRows() const { return bufferedRows_; }

    /// The group's absolute path, e.g. "/trace".
    const std::string& group() const { return group_; }

    /// Column names in declaration order.
    std::vector<std::string> columnNames() const;

private:
    friend class TraceWriter;

    struct Column {
        std::string name;
        Index width = 0;                ///< elements per cell (0: a scalar cell)
        std::vector<Index> cellShape;   ///< extents of a cell after S: {} for width 0, {width} or more
        ColumnType type = ColumnType::float64;
        std::vector<double> values;          // float64 columns: capacity rows x max(1, width), row-major
        std::vector<std::int64_t> integers;  // int64 columns: same layout
        std::vector<std::string> strings;    // string columns: capacity rows, one cell each
        Hdf5Handle dataset;
        Index slots() const { return width == 0 ? 1 : width; }
    };

    Table(std::string group, std::string filePath, std::int64_t capacityRows, std::int64_t keptRows = 0);
    Column& checkedColumn(ColumnId column, ColumnType type);
    void resetRow(Column& column, std::int64_t rowIndex);
    void reserveRows(std::int64_t capacityRows);
    void createDatasets(hid_t groupLocation);
    void openDatasets(hid_t groupLocation);
    void flush(hid_t groupLocation);
    void closeDatasets() noexcept;
    void resizeBuffer(Column& column);

    std::string group_;
    std::string filePath_;
    std::vector<Column> columns_;
    std::int64_t capacityRows_ = 0;  // rows the buffers hold, including the row being filled
    std::int64_t bufferedRows_ = 0;
    std::int64_t writtenRows_ = 0;
    std::int64_t keptRows_ = 0;   // rows of an existing trace this table continues after
    bool existing_ = false;       // the group's datasets exist in the file (a resumed trace)
    bool datasetsCreated_ = false;
};

}  // namespace gradlab::trace
