#pragma once
/// @file trace_fixture.hpp
/// What the trace tests share: temporary trace files, a header, and the columns the trainer declares, filled
/// with values each test can recompute.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "trace/trace_reader.hpp"
#include "trace/trace_writer.hpp"

namespace gradlab::testing {

using trace::ColumnId;
using trace::ColumnType;
using trace::Table;
using trace::TraceHeader;
using trace::TraceReader;

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

inline TraceHeader makeHeader() {
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
inline double cell(std::int64_t step, int column, int slot) {
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

inline void checkRows(const TraceReader& reader, std::int64_t rows) {
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

}  // namespace gradlab::testing
