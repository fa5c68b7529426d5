#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "gradlab/error.hpp"
#include "trace/trace_reader.hpp"
#include "trace/trace_writer.hpp"
#include "support/trace_fixture.hpp"

using Catch::Matchers::Contains;
using gradlab::Error;
using gradlab::RunStatus;
using gradlab::trace::ColumnId;
using gradlab::trace::ColumnType;
using gradlab::trace::Hdf5Handle;
using gradlab::trace::Table;
using gradlab::trace::TraceHeader;
using gradlab::trace::TraceReader;
using gradlab::trace::TraceWriter;

using gradlab::testing::checkRows;
using gradlab::testing::makeHeader;
using gradlab::testing::TemporaryFile;
using gradlab::testing::TraceColumns;

TEST_CASE("trace table columns are chunked, compressed, unlimited float64 and int64", "[trace]") {
    TemporaryFile file("layout.h5");
    {
        TraceWriter writer(file.path(), makeHeader(), 8);
        Table& trace = writer.table("/trace");
        const TraceColumns columns(trace);
        columns.fill(trace, 0);
        trace.commit();
        writer.finish(RunStatus::diverged, "loss is NaN at step 1", "2026-11-27T03:11:00Z");
    }
    Hdf5Handle h5 = gradlab::trace::openHdf5ReadOnly(file.path());
    for (const char* name : {"/trace/loss", "/trace/param_grad_norm", "/trace/step"}) {
        INFO(name);
        Hdf5Handle dataset = Hdf5Handle::dataset(H5Dopen2(h5.get(), name, H5P_DEFAULT));
        REQUIRE(dataset.valid());
        Hdf5Handle type = Hdf5Handle::datatype(H5Dget_type(dataset.get()));
        CHECK(H5Tget_size(type.get()) == 8);
        CHECK(H5Tget_class(type.get()) == (std::string(name) == "/trace/step" ? H5T_INTEGER : H5T_FLOAT));
        Hdf5Handle properties = Hdf5Handle::propertyList(H5Dget_create_plist(dataset.get()));
        CHECK(H5Pget_layout(properties.get()) == H5D_CHUNKED);
        CHECK(H5Pget_nfilters(properties.get()) == 2);
        unsigned flags = 0, values[4] = {};
        std::size_t count = 4;
        CHECK(H5Pget_filter2(properties.get(), 0, &flags, &count, values, 0, nullptr, nullptr) == H5Z_FILTER_SHUFFLE);
        count = 4;
        CHECK(H5Pget_filter2(properties.get(), 1, &flags, &count, values, 0, nullptr, nullptr) == H5Z_FILTER_DEFLATE);
        CHECK(values[0] == 4);
        Hdf5Handle space = Hdf5Handle::dataspace(H5Dget_space(dataset.get()));
        hsize_t dims[2] = {}, maxDims[2] = {};
        H5Sget_simple_extent_dims(space.get(), dims, maxDims);
        CHECK(maxDims[0] == H5S_UNLIMITED);
        hsize_t chunk[2] = {};
        const int rank = H5Pget_chunk(properties.get(), 2, chunk);
        // A chunk holds one flush's rows (8 here), so that flushes write whole new chunks.
        if (rank == 1) CHECK(chunk[0] == 8);
        if (rank == 2) CHECK(chunk[0] == 8);
    }
    const TraceReader reader(file.path());
    CHECK(reader.stringAttribute("status") == "diverged");
    CHECK(reader.stringAttribute("status_message") == "loss is NaN at step 1");
}

TEST_CASE("trace tables refuse misuse", "[trace]") {
    TemporaryFile file("misuse.h5");
    TraceWriter writer(file.path(), makeHeader());
    Table& trace = writer.table("/trace");
    const ColumnId step = trace.addColumn("step", 0, ColumnType::int64);
    const ColumnId loss = trace.addColumn("loss");
    CHECK_THROWS_WITH(trace.addColumn("loss"), Contains("duplicate column 'loss'"));
    CHECK_THROWS_WITH(trace.row(step), Contains("column 'step' is int64, not float64"));
    CHECK_THROWS_WITH(trace.setInteger(loss, 1), Contains("column 'loss' is float64, not int64"));
    CHECK_THROWS_WITH(trace.column("los"), Contains("did you mean 'loss'?"));
    CHECK(trace.column("loss").index == loss.index);
    trace.commit();
    CHECK_THROWS_WITH(trace.addColumn("late"), Contains("after rows were committed"));
    CHECK_THROWS_WITH(writer.table("/meta"), Contains("reserved"));
    CHECK_THROWS_WITH(writer.table("/trace//x"), Contains("invalid table group"));
    CHECK_THROWS_WITH(writer.table("/trace/../x"), Contains("invalid table group"));
    CHECK_THROWS_WITH(writer.finish(RunStatus::running, "", ""), Contains("'running' is not a final status"));
    CHECK_THROWS_WITH(writer.finish(RunStatus::pending, "", ""), Contains("'pending' is not a final status"));
    CHECK_THROWS_WITH(TraceWriter(file.path() + ".other",
                                  [] {
                                      TraceHeader header = makeHeader();
                                      header.precision = "float16";
                                      return header;
                                  }()),
                      Contains("precision must be 'float32' or 'float64', got 'float16'"));
}

TEST_CASE("trace buffers grow instead of losing rows when nobody flushes", "[trace]") {
    TemporaryFile file("grow.h5");
    {
        TraceWriter writer(file.path(), makeHeader(), 2);
        Table& trace = writer.table("/trace");
        const TraceColumns columns(trace);
        for (std::int64_t step = 0; step < 9; ++step) {
            columns.fill(trace, step);
            trace.commit();
        }
        CHECK(trace.bufferedRows() == 9);
        writer.finish(RunStatus::completed, "", "");
    }
    checkRows(TraceReader(file.path()), 9);
}

TEST_CASE("a row being filled survives a flush in the middle of it", "[trace]") {
    TemporaryFile file("partial.h5");
    {
        TraceWriter writer(file.path(), makeHeader(), 2);
        Table& trace = writer.table("/trace");
        const TraceColumns columns(trace);
        for (std::int64_t step = 0; step < 3; ++step) {
            columns.fill(trace, step);
            if (step == 2) writer.flush();  // rows 0 and 1 written; row 2 is filled but not committed yet
            trace.commit();
        }
        CHECK(trace.bufferedRows() == 1);
        writer.finish(RunStatus::completed, "", "");
    }
    checkRows(TraceReader(file.path()), 3);
}

TEST_CASE("string columns round-trip across flushes, growth and a partly filled row", "[trace][strings]") {
    TemporaryFile file("events.h5");
    // Row r: kind cycles, message set on even rows only (odd rows must read back as "").
    auto kindOf = [](std::int64_t row) { return std::string(row % 3 == 0 ? "vanishing" : "non_finite"); };
    auto messageOf = [](std::int64_t row) {
        return row % 2 == 0 ? "row " + std::to_string(row) + ": ‖dL/dh‖ < 1e-5 · ‖dL/dy‖ " + std::string(200, 'x')
                            : std::string();
    };
    const std::int64_t rows = 13;
    {
        TraceWriter writer(file.path(), makeHeader(), 4);
        Table& events = writer.table("/events");
        const ColumnId step = events.addColumn("step", 0, ColumnType::int64);
        const ColumnId kind = events.addColumn("kind", 0, ColumnType::string);
        const ColumnId where = events.addColumn("where", 0, ColumnType::string);
        const ColumnId timestep = events.addColumn("timestep", 0, ColumnType::int64);
        const ColumnId value = events.addColumn("value");
        const ColumnId message = events.addColumn("message", 0, ColumnType::string);
        CHECK_THROWS_WITH(events.addColumn("wide", 2, ColumnType::string),
                          Contains("string column 'wide' must have width 0, got 2"));
        CHECK_THROWS_WITH(events.setString(step, "x"), Contains("column 'step' is int64, not string"));
        CHECK_THROWS_WITH(events.set(kind, 1.0), Contains("column 'kind' is string, not float64"));
        for (std::int64_t row = 0; row < rows; ++row) {
            events.setInteger(step, row * 10);
            events.setString(kind, kindOf(row));
            events.setString(where, "forward layers." + std::to_string(row) + ".dense");
            events.setInteger(timestep, row == 5 ? 7 : -1);
            events.set(value, 0.5 * row);
            if (row == 9) writer.flush();  // row 9 is half filled: its message is set after the flush
            events.setString(message, messageOf(row));
            events.commit();
            if (row < 8) writer.flushIfDue();  // then stop flushing: the buffers must grow
        }
        CHECK(events.rows() == rows);
        writer.finish(RunStatus::completed, "", "");
    }
    const TraceReader reader(file.path());
    CHECK(reader.listGroup("/events") == std::vector<std::string>{"kind", "message", "step", "timestep", "value", "where"});
    REQUIRE(reader.datasetShape("/events/kind") == std::vector<hsize_t>{hsize_t(rows)});
    const std::vector<std::string> kinds = reader.readStrings("/events/kind");
    const std::vector<std::string> wheres = reader.readStrings("/events/where");
    const std::vector<std::string> messages = reader.readStrings("/events/message");
    const std::vector<std::int64_t> steps = reader.readInt64Vector("/events/step");
    const std::vector<std::int64_t> timesteps = reader.readInt64Vector("/events/timestep");
    const Eigen::VectorXd values = reader.readVector("/events/value");
    REQUIRE(kinds.size() == std::size_t(rows));
    for (std::int64_t row = 0; row < rows; ++row) {
        INFO("row " << row);
        CHECK(steps[row] == row * 10);
        CHECK(kinds[row] == kindOf(row));
        CHECK(wheres[row] == "forward layers." + std::to_string(row) + ".dense");
        CHECK(messages[row] == messageOf(row));
        CHECK(timesteps[row] == (row == 5 ? 7 : -1));
        CHECK(values(row) == 0.5 * row);
    }
    CHECK_THROWS_WITH(reader.readVector("/events/kind"), Contains("is string, not numbers"));

    // Layout: chunked, compressed, unlimited, variable-length UTF-8.
    Hdf5Handle h5 = gradlab::trace::openHdf5ReadOnly(file.path());
    Hdf5Handle dataset = Hdf5Handle::dataset(H5Dopen2(h5.get(), "/events/message", H5P_DEFAULT));
    REQUIRE(dataset.valid());
    Hdf5Handle type = Hdf5Handle::datatype(H5Dget_type(dataset.get()));
    CHECK(H5Tget_class(type.get()) == H5T_STRING);
    CHECK(H5Tis_variable_str(type.get()) > 0);
    CHECK(H5Tget_cset(type.get()) == H5T_CSET_UTF8);
    Hdf5Handle properties = Hdf5Handle::propertyList(H5Dget_create_plist(dataset.get()));
    CHECK(H5Pget_layout(properties.get()) == H5D_CHUNKED);
    hsize_t chunk[1] = {};
    CHECK(H5Pget_chunk(properties.get(), 1, chunk) == 1);
    CHECK(chunk[0] == 4);  // one flush's rows
    Hdf5Handle space = Hdf5Handle::dataspace(H5Dget_space(dataset.get()));
    hsize_t dims[1] = {}, maxDims[1] = {};
    H5Sget_simple_extent_dims(space.get(), dims, maxDims);
    CHECK(maxDims[0] == H5S_UNLIMITED);
}

TEST_CASE("an empty string table and a killed writer leave readable string columns", "[trace][strings]") {
    TemporaryFile file("events-empty.h5");
    {
        TraceWriter writer(file.path(), makeHeader());
        Table& events = writer.table("/events");
        events.addColumn("kind", 0, ColumnType::string);
        writer.finish(RunStatus::completed, "", "");
    }
    const TraceReader reader(file.path());
    CHECK(reader.datasetShape("/events/kind") == std::vector<hsize_t>{0});
    CHECK(reader.readStrings("/events/kind").empty());

    TemporaryFile killed("events-killed.h5");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int code = 0;
        try {
            auto* writer = new TraceWriter(killed.path(), makeHeader(), 2);
            Table& events = writer->table("/events");
            const ColumnId kind = events.addColumn("kind", 0, ColumnType::string);
            for (const char* text : {"exploding", "stalled", "saturated"}) {
                events.setString(kind, text);
                events.commit();
                writer->flushIfDue();
            }
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(TraceReader(killed.path()).readStrings("/events/kind") == std::vector<std::string>{"exploding", "stalled"});
}

TEST_CASE("tables nest inside other tables' groups, as per-layer statistics do", "[trace]") {
    TemporaryFile file("nested.h5");
    {
        TraceWriter writer(file.path(), makeHeader());
        Table& trace = writer.table("/trace");
        const ColumnId loss = trace.addColumn("loss");
        Table& perStep = writer.table("/trace/timestep_grad_norm");
        const ColumnId layer = perStep.addColumn("layers.0.lstm", 3);
        for (int step = 0; step < 2; ++step) {
            trace.set(loss, step);
            double* row = perStep.row(layer);
            for (int t = 0; t < 3; ++t) row[t] = 10 * step + t;
            perStep.commit();
            trace.commit();
        }
        writer.finish(RunStatus::completed, "", "");
    }
    TraceReader reader(file.path());
    CHECK(reader.readVector("/trace/loss").size() == 2);
    const Eigen::MatrixXd norms = reader.readMatrix("/trace/timestep_grad_norm/layers.0.lstm");
    REQUIRE(norms.rows() == 2);
    REQUIRE(norms.cols() == 3);
    CHECK(norms(1, 2) == 12);
}

