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

namespace {

/// A unique path in the temporary folder, removed when the test ends.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& name) {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("gradlab-trace-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + name))
                    .string();
        std::filesystem::remove(path_);
    }
    ~TemporaryFile() {
        std::error_code error;
        std::filesystem::remove(path_, error);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TraceHeader makeHeader() {
    TraceHeader header;
    header.gradlabVersion = "0.1.0";
    header.config = "model:\n  layers: [dense, tanh]\nseed: 7\n";
    header.seed = (std::uint64_t{1} << 63) + 5;  // does not fit in int64: must survive as uint64
    header.precision = "float32";
    header.startedAt = "2026-11-27T03:10:00Z";
    header.layerNames = {"layers.0.dense", "layers.1.tanh"};
    header.layerKinds = {"dense", "tanh"};
    header.paramNames = {"layers.0.dense.W", "layers.0.dense.b", "layers.1.tanh.activation.slope"};
    return header;
}

/// The value the tests store in row `step`, slot `slot` of a column numbered `column`.
double cell(std::int64_t step, int column, int slot) {
    return 1000.0 * column + static_cast<double>(step) + 0.125 * slot;
}

/// The traced columns the trainer declares, filled with cell() values.
struct TraceColumns {
    ColumnId stepColumn, loss, gradNorm, paramGradNorm, activationMean;

    explicit TraceColumns(Table& table)
        : stepColumn(table.addColumn("step", 0, ColumnType::int64)),
          loss(table.addColumn("loss")),
          gradNorm(table.addColumn("grad_norm")),
          paramGradNorm(table.addColumn("param_grad_norm", 3)),
          activationMean(table.addColumn("activation_mean", 2)) {}

    void fill(Table& table, std::int64_t step) const {
        table.setInteger(stepColumn, step * 10);
        table.set(loss, cell(step, 1, 0));
        table.set(gradNorm, cell(step, 2, 0));
        for (int slot = 0; slot < 3; ++slot) table.row(paramGradNorm)[slot] = cell(step, 3, slot);
        for (int slot = 0; slot < 2; ++slot) table.row(activationMean)[slot] = cell(step, 4, slot);
    }
};

void checkRows(const TraceReader& reader, std::int64_t rows) {
    REQUIRE(reader.datasetShape("/trace/step") == std::vector<hsize_t>{hsize_t(rows)});
    REQUIRE(reader.datasetShape("/trace/loss") == std::vector<hsize_t>{hsize_t(rows)});
    REQUIRE(reader.datasetShape("/trace/param_grad_norm") == std::vector<hsize_t>{hsize_t(rows), 3});
    REQUIRE(reader.datasetShape("/trace/activation_mean") == std::vector<hsize_t>{hsize_t(rows), 2});
    const std::vector<std::int64_t> steps = reader.readInt64Vector("/trace/step");
    const Eigen::VectorXd loss = reader.readVector("/trace/loss");
    const Eigen::VectorXd gradNorm = reader.readVector("/trace/grad_norm");
    const Eigen::MatrixXd paramGradNorm = reader.readMatrix("/trace/param_grad_norm");
    const Eigen::MatrixXd activationMean = reader.readMatrix("/trace/activation_mean");
    REQUIRE(paramGradNorm.rows() == rows);
    REQUIRE(paramGradNorm.cols() == 3);
    for (std::int64_t step = 0; step < rows; ++step) {
        CHECK(steps[step] == step * 10);
        CHECK(loss(step) == cell(step, 1, 0));
        CHECK(gradNorm(step) == cell(step, 2, 0));
        for (int slot = 0; slot < 3; ++slot) CHECK(paramGradNorm(step, slot) == cell(step, 3, slot));
        for (int slot = 0; slot < 2; ++slot) CHECK(activationMean(step, slot) == cell(step, 4, slot));
    }
}

}  // namespace

TEST_CASE("trace writer round-trips header, meta and rows across several flushes", "[trace]") {
    TemporaryFile file("roundtrip.h5");
    const TraceHeader header = makeHeader();
    {
        TraceWriter writer(file.path(), header, 4);
        Table& trace = writer.table("/trace");
        REQUIRE(&writer.table("trace") == &trace);
        const TraceColumns columns(trace);
        int flushes = 0;
        for (std::int64_t step = 0; step < 11; ++step) {
            columns.fill(trace, step);
            trace.commit();
            if (writer.flushIfDue()) ++flushes;
        }
        CHECK(flushes == 2);
        CHECK(trace.rows() == 11);
        CHECK(trace.bufferedRows() == 3);

        Table& eval = writer.table("/eval");
        const ColumnId evalStep = eval.addColumn("step", 0, ColumnType::int64);
        const ColumnId evalLoss = eval.addColumn("loss");
        const ColumnId accuracy = eval.addColumn("accuracy");
        for (std::int64_t row = 0; row < 2; ++row) {
            eval.setInteger(evalStep, row * 50);
            eval.set(evalLoss, 0.5 / double(row + 1));
            if (row == 1) eval.set(accuracy, 0.75);  // row 0 leaves accuracy unset: NaN
            eval.commit();
        }
        writer.setAttribute("note", "hello");
        writer.setAttribute("learning_rate", 0.01);
        writer.setAttribute("trace_every", 5);
        writer.setAttribute("trace_every", 10);  // replaced
        writer.finish(RunStatus::completed, "reached 11 steps", "2026-11-27T04:00:00Z");
        CHECK(writer.finished());
        CHECK_THROWS_WITH(writer.flush(), Contains("after finish()"));
    }

    const TraceReader reader(file.path());
    CHECK(reader.stringAttribute("schema") == "gradlab-trace");
    CHECK(reader.integerAttribute("schema_version") == 1);
    CHECK(reader.stringAttribute("gradlab_version") == "0.1.0");
    CHECK(reader.stringAttribute("config") == header.config);
    CHECK(reader.unsignedAttribute("seed") == header.seed);
    CHECK_THROWS_WITH(reader.integerAttribute("seed"), Contains("does not fit in int64"));
    CHECK(reader.stringAttribute("precision") == "float32");
    CHECK(reader.stringAttribute("status") == "completed");
    CHECK(reader.stringAttribute("status_message") == "reached 11 steps");
    CHECK(reader.stringAttribute("started_at") == "2026-11-27T03:10:00Z");
    CHECK(reader.stringAttribute("finished_at") == "2026-11-27T04:00:00Z");
    CHECK(reader.stringAttribute("note") == "hello");
    CHECK(reader.doubleAttribute("learning_rate") == 0.01);
    CHECK(reader.integerAttribute("trace_every") == 10);
    CHECK_THROWS_WITH(reader.stringAttribute("trace_every"), Contains("not a string"));
    CHECK_THROWS_WITH(reader.stringAttribute("nothing"), Contains("no attribute 'nothing'"));

    CHECK(reader.readStrings("/meta/layer_names") == header.layerNames);
    CHECK(reader.readStrings("/meta/layer_kinds") == header.layerKinds);
    CHECK(reader.readStrings("/meta/param_names") == header.paramNames);
    CHECK(reader.listGroup("/") == std::vector<std::string>{"eval", "meta", "trace"});
    CHECK(reader.listGroup("/trace") ==
          std::vector<std::string>{"activation_mean", "grad_norm", "loss", "param_grad_norm", "step"});
    CHECK(reader.hasDataset("/trace/loss"));
    CHECK_FALSE(reader.hasDataset("/trace"));
    CHECK_FALSE(reader.hasDataset("/nothing/loss"));
    CHECK_THROWS_WITH(reader.readVector("/trace/nothing"), Contains("no dataset '/trace/nothing'"));

    checkRows(reader, 11);

    CHECK(reader.readInt64Vector("/eval/step") == std::vector<std::int64_t>{0, 50});
    const Eigen::VectorXd evalLoss = reader.readVector("/eval/loss");
    CHECK(evalLoss(0) == 0.5);
    CHECK(evalLoss(1) == 0.25);
    const Eigen::VectorXd accuracy = reader.readVector("/eval/accuracy");
    CHECK(std::isnan(accuracy(0)));
    CHECK(accuracy(1) == 0.75);
}

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

TEST_CASE("trace writer destroyed without finish leaves a readable running trace", "[trace]") {
    TemporaryFile file("unfinished.h5");
    {
        TraceWriter writer(file.path(), makeHeader(), 3);
        Table& trace = writer.table("/trace");
        const TraceColumns columns(trace);
        for (std::int64_t step = 0; step < 7; ++step) {
            columns.fill(trace, step);
            trace.commit();
            writer.flushIfDue();
        }
        CHECK(trace.bufferedRows() == 1);
    }
    const TraceReader reader(file.path());
    CHECK(reader.stringAttribute("status") == "running");
    CHECK(reader.stringAttribute("finished_at").empty());
    checkRows(reader, 7);  // the destructor writes the buffered row too
}

TEST_CASE("a killed writer leaves a readable trace with every flushed row", "[trace]") {
    TemporaryFile file("killed.h5");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child writes 5 rows, flushing every 2, and dies without closing anything.
        int code = 0;
        try {
            auto* writer = new TraceWriter(file.path(), makeHeader(), 2);
            Table& trace = writer->table("/trace");
            const TraceColumns columns(trace);
            for (std::int64_t step = 0; step < 5; ++step) {
                columns.fill(trace, step);
                trace.commit();
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
    const TraceReader reader(file.path());
    CHECK(reader.stringAttribute("status") == "running");
    CHECK(reader.readStrings("/meta/param_names") == makeHeader().paramNames);
    checkRows(reader, 4);
}

TEST_CASE("trace snapshots keep Eigen's orientation and the run's precision", "[trace]") {
    TemporaryFile file("snapshots.h5");
    Eigen::MatrixXf gradFloat(3, 2);
    gradFloat << 1.5f, -2.0f, 3.25f, 4.0f, 5.0f, 6.5f;
    const Eigen::MatrixXf valueFloat = gradFloat * 10.0f;
    Eigen::MatrixXd gradDouble(1, 4);
    gradDouble << 0.1, 0.2, 0.3, 0.4;
    const Eigen::MatrixXd valueDouble = Eigen::MatrixXd::Constant(4, 1, 1.0 / 3.0);
    {
        TraceWriter writer(file.path(), makeHeader());
        writer.writeSnapshot(0, "layers.0.dense.W", gradFloat, valueFloat);
        writer.writeSnapshot(100, "layers.0.dense.W", gradFloat, valueFloat);
        writer.writeSnapshot(100, "layers.1.tanh.activation.slope", gradDouble, valueDouble);
        CHECK_THROWS_WITH(writer.writeSnapshot(100, "layers.0.dense.W", gradFloat, valueFloat),
                          Contains("'/snapshots/100/layers.0.dense.W' was written already"));
        CHECK_THROWS_WITH(writer.writeSnapshot(1, "a/b", gradFloat, valueFloat), Contains("invalid parameter name"));
        writer.finish(RunStatus::completed, "", "2026-11-27T04:00:00Z");
    }
    const TraceReader reader(file.path());
    CHECK(reader.listGroup("/snapshots") == std::vector<std::string>{"0", "100"});
    CHECK(reader.listGroup("/snapshots/100") ==
          std::vector<std::string>{"layers.0.dense.W", "layers.1.tanh.activation.slope"});
    CHECK(reader.datasetShape("/snapshots/100/layers.0.dense.W/grad") == std::vector<hsize_t>{3, 2});
    CHECK(reader.readMatrix("/snapshots/100/layers.0.dense.W/grad") == gradFloat.cast<double>());
    CHECK(reader.readMatrix("/snapshots/0/layers.0.dense.W/value") == valueFloat.cast<double>());
    CHECK(reader.datasetShape("/snapshots/100/layers.1.tanh.activation.slope/grad") == std::vector<hsize_t>{1, 4});
    CHECK(reader.readMatrix("/snapshots/100/layers.1.tanh.activation.slope/grad") == gradDouble);
    CHECK(reader.readMatrix("/snapshots/100/layers.1.tanh.activation.slope/value") == valueDouble);

    Hdf5Handle h5 = gradlab::trace::openHdf5ReadOnly(file.path());
    Hdf5Handle floatSet = Hdf5Handle::dataset(H5Dopen2(h5.get(), "/snapshots/0/layers.0.dense.W/grad", H5P_DEFAULT));
    Hdf5Handle floatType = Hdf5Handle::datatype(H5Dget_type(floatSet.get()));
    CHECK(H5Tget_size(floatType.get()) == 4);
    Hdf5Handle doubleSet =
        Hdf5Handle::dataset(H5Dopen2(h5.get(), "/snapshots/100/layers.1.tanh.activation.slope/value", H5P_DEFAULT));
    Hdf5Handle doubleType = Hdf5Handle::datatype(H5Dget_type(doubleSet.get()));
    CHECK(H5Tget_size(doubleType.get()) == 8);
}

TEST_CASE("trace meta handles models without layers or parameters", "[trace]") {
    TemporaryFile file("empty-meta.h5");
    TraceHeader header = makeHeader();
    header.layerNames.clear();
    header.layerKinds.clear();
    header.paramNames.clear();
    header.precision = "float64";
    { TraceWriter writer(file.path(), header); }
    const TraceReader reader(file.path());
    CHECK(reader.datasetShape("/meta/layer_names") == std::vector<hsize_t>{0});
    CHECK(reader.readStrings("/meta/layer_names").empty());
    CHECK(reader.readStrings("/meta/param_names").empty());
    CHECK(reader.stringAttribute("precision") == "float64");
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

TEST_CASE("trace writer names the path it cannot create", "[trace]") {
    const std::string path =
        (std::filesystem::temp_directory_path() / "gradlab-missing-folder-xyz" / "run.h5").string();
    CHECK_THROWS_WITH(TraceWriter(path, makeHeader()),
                      Contains("cannot create trace file '" + path + "': ") && Contains("No such file or directory"));
}

TEST_CASE("trace reader refuses what it does not know", "[trace]") {
    SECTION("a file that is not HDF5") {
        TemporaryFile file("text.h5");
        std::ofstream(file.path()) << "step,loss\n0,1.0\n";
        CHECK_THROWS_WITH(TraceReader(file.path()), Contains("'" + file.path() + "' is not an HDF5 file"));
    }
    SECTION("a missing file") {
        TemporaryFile file("missing.h5");
        CHECK_THROWS_WITH(TraceReader(file.path()), Contains("no such file"));
    }
    SECTION("an HDF5 file without schema") {
        TemporaryFile file("plain.h5");
        {
            Hdf5Handle h5 = Hdf5Handle::file(H5Fcreate(file.path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
            REQUIRE(h5.valid());
        }
        CHECK_THROWS_WITH(TraceReader(file.path()),
                          Contains("'" + file.path() + "' is not a gradlab trace (schema attribute: missing"));
    }
    SECTION("another schema") {
        TemporaryFile file("other.h5");
        {
            TraceWriter writer(file.path(), makeHeader());
            writer.setAttribute("schema", "keras-model");
        }
        CHECK_THROWS_WITH(TraceReader(file.path()),
                          Contains("is not a gradlab trace (schema attribute: 'keras-model'"));
    }
    SECTION("a newer schema_version") {
        TemporaryFile file("newer.h5");
        {
            TraceWriter writer(file.path(), makeHeader());
            writer.setAttribute("schema_version", 2);
        }
        CHECK_THROWS_WITH(TraceReader(file.path()),
                          Contains("written by a newer gradlab: schema_version 2, this reader knows 1"));
    }
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

TEST_CASE("group attributes create the group and round-trip strings, floats and integers", "[trace]") {
    TemporaryFile file("group-attributes.h5");
    {
        TraceWriter writer(file.path(), makeHeader());
        writer.setGroupAttribute("/theory", "activation", "tanh");
        writer.setGroupAttribute("/theory", "chi_1", 0.75);
        writer.setGroupAttribute("/theory", "converged", 1);
        writer.setGroupAttribute("/theory", "chi_1", 1.25);  // replaced
        writer.setGroupAttribute("/", "note", std::string("root"));
        writer.setGroupAttribute("/analysis/nested", "depth", std::int64_t{3});
        Table& trace = writer.table("/trace");
        trace.addColumn("loss");
        writer.flush();
        writer.setGroupAttribute("/trace", "unit", "nats");  // on an existing table group
        CHECK_THROWS_WITH(writer.setGroupAttribute("/meta", "x", 1.0), Contains("'/meta' is reserved"));
        CHECK_THROWS_WITH(writer.setGroupAttribute("/trace/loss", "x", 1.0), Contains("is not a group"));
        CHECK_THROWS_WITH(writer.setGroupAttribute("theory", "x", 1.0), Contains("must be an absolute path"));
        writer.finish(RunStatus::completed, "", "");
        CHECK_THROWS_WITH(writer.setGroupAttribute("/theory", "x", 1.0), Contains("after finish()"));
    }
    const TraceReader reader(file.path());
    CHECK(reader.hasGroup("/theory"));
    CHECK(reader.stringAttribute("activation", "/theory") == "tanh");
    CHECK(reader.doubleAttribute("chi_1", "/theory") == 1.25);
    CHECK(reader.integerAttribute("converged", "/theory") == 1);
    CHECK(reader.stringAttribute("note") == "root");
    CHECK(reader.integerAttribute("depth", "/analysis/nested") == 3);
    CHECK(reader.stringAttribute("unit", "/trace") == "nats");
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

TEST_CASE("a trace appears only with its header: it is created under a temporary name and renamed", "[trace]") {
    TemporaryFile file("atomic-create.h5");
    {
        TraceWriter writer(file.path(), makeHeader());
        CHECK(std::filesystem::is_regular_file(file.path()));
        const std::filesystem::path folder = std::filesystem::path(file.path()).parent_path();
        const std::string stem = std::filesystem::path(file.path()).filename().string();
        for (const auto& entry : std::filesystem::directory_iterator(folder))
            CHECK(entry.path().filename().string().rfind(stem + ".tmp", 0) != 0);
        writer.finish(RunStatus::completed, "", "now");
    }
}

TEST_CASE("a resumed trace is cut back to a checkpoint's rows and continues after them", "[trace][checkpoint]") {
    TemporaryFile file("resumed.h5");
    const auto writeSteps = [](TraceWriter& writer, std::int64_t from, std::int64_t to) {
        Table& table = writer.table("/trace");
        const TraceColumns columns(table);
        for (std::int64_t step = from; step < to; ++step) {
            columns.fill(table, step);
            table.commit();
            const Eigen::MatrixXf grad = Eigen::MatrixXf::Constant(2, 2, 1.0f);
            const Eigen::MatrixXf value = Eigen::MatrixXf::Constant(2, 2, static_cast<float>(step));
            if (step % 5 == 0) writer.writeSnapshot(step, "W", grad, value);
            writer.flushIfDue();
        }
    };
    {
        TraceWriter writer(file.path(), makeHeader(), 3);
        writeSteps(writer, 0, 17);
        writer.writeTensor("/model/parameters", "W", Eigen::MatrixXf(Eigen::MatrixXf::Zero(2, 2)));
        writer.flush();  // then killed: rows up to 17 on disk, /model from a run that never finished
    }
    {
        // Steps 11 to 16 are written again (their snapshot 15 too, which would be refused had it been kept).
        TraceWriter writer(file.path(), gradlab::trace::ResumePoint{11, {{"/trace", 11}}}, 3);
        writeSteps(writer, 11, 20);
        CHECK(writer.tableRows() == std::vector<std::pair<std::string, std::int64_t>>{{"/trace", 20}});
        writer.finish(RunStatus::completed, "", "now");
    }
    {
        const TraceReader reader(file.path());
        checkRows(reader, 20);  // 17 + 9 rows had the trace not been cut back
        CHECK_FALSE(reader.hasGroup("/model"));
        CHECK(reader.integerAttribute("resumes") == 1);
        CHECK(reader.listGroup("/snapshots") == std::vector<std::string>{"0", "10", "15", "5"});
        CHECK(reader.stringAttribute("status") == "completed");
        CHECK(reader.stringAttribute("started_at") == "2026-11-27T03:10:00Z");  // the first start is kept
    }

    SECTION("a checkpoint newer than the trace is refused") {
        CHECK_THROWS_WITH(TraceWriter(file.path(), gradlab::trace::ResumePoint{30, {{"/trace", 30}}}),
                          Contains("holds 20 rows, the checkpoint needs 30"));
    }
    SECTION("columns that differ from the file's are refused when the table is written") {
        TraceWriter writer(file.path(), gradlab::trace::ResumePoint{20, {{"/trace", 20}}});
        Table& table = writer.table("/trace");
        table.addColumn("loss");
        CHECK_THROWS_WITH(writer.flush(), Contains("the file has column") && Contains(file.path()));
    }
    SECTION("a file that is not a trace is refused") {
        TemporaryFile other("not-a-trace.h5");
        std::ofstream(other.path()) << "x";
        CHECK_THROWS_WITH(TraceWriter(other.path(), gradlab::trace::ResumePoint{}), Contains(other.path()));
    }
}
