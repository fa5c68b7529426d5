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
