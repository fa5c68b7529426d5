#pragma once
/// @file run_trace.hpp
/// A run's HDF5 trace as the trainer writes it (docs/hdf5-schema.md): the tables and their columns, one row per
/// traced step from the step's gradients, signals and layer statistics, the events, the evaluations, the model
/// as it ended and the mean-field theory at initialisation. The trainer calls it at fixed points of a step, so
/// that the step itself reads as its maths.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/plugin_spec_reader.hpp"
#include "config/run_config.hpp"
#include "gradlab/error.hpp"
#include "gradlab/recurrent.hpp"
#include "model/network.hpp"
#include "plugin/plugin_host.hpp"
#include "theory/dense_stack.hpp"
#include "theory/mean_field.hpp"
#include "trace/trace_schema.hpp"
#include "trace/trace_writer.hpp"
#include "training/clipping.hpp"
#include "training/detectors.hpp"
#include "training/norms.hpp"
#include "training/run_checkpoint.hpp"

namespace gradlab {

/// Collects what a layer reports through Module::statistics(), reusing its storage from step to step.
class StatisticsCollector : public StatisticsSink {
public:
    void add(const std::string& name, const double* values, Index count) override {
        for (auto& entry : series_)
            if (!entry.used && entry.name == name) {
                entry.values.assign(values, values + count);
                entry.used = true;
                return;
            }
        series_.push_back({name, std::vector<double>(values, values + count), true});
    }
    void clear() {
        for (auto& entry : series_) entry.used = false;
    }
    /// One reported series; `used` says whether it was reported since clear().
    struct Entry {
        std::string name;
        std::vector<double> values;
        bool used = false;
    };
    const std::vector<Entry>& entries() const { return series_; }

private:
    std::vector<Entry> series_;
};

/// Which table an evaluation goes to: /eval (the validation set, or the training set when there is none) or
/// /test (the official test split, data.test).
enum class EvalSet { validation, test };

/// The trace of one run in one precision.
template <typename Scalar>
class RunTrace {
public:
    using MatrixType = Matrix<Scalar>;

    /// Takes the opened trace (new, or reopened at a checkpoint) and declares its tables; `live` says that
    /// progress is drawn on one terminal line (a warning then clears it first).
    RunTrace(std::unique_ptr<trace::TraceWriter> writer, const RunConfig& config, Network<Scalar>& network,
             bool classification, bool live)
        : writer_(std::move(writer)), config_(config), network_(network), classification_(classification), live_(live) {
        statisticSlots_.resize(network_.size());
        saturation_.assign(network_.size(), NAN);
        declareTables(classification);
    }

    /// Step, loss, penalty and learning rate of a traced step, the norms of every parameter's gradient and
    /// value (the value norm from the last traced update where `valueNormKnown`: bit for bit the same), each
    /// layer's signal norm, activation mean and spread, and the layers' statistics; returns the global gradient
    /// norm. The row stays open for recordClip(), updateNorms() and commitStep().
    double recordBeforeUpdate(std::int64_t step, double loss, double penalty, double learningRate,
                              const std::vector<char>& valueNormKnown, const std::vector<double>& valueNormAfterUpdate) {
        trace::Table& table = writer_->table("/trace");
        table.setInteger(columns_.step, step);
        *table.row(columns_.loss) = loss;
        *table.row(columns_.regLoss) = penalty;
        *table.row(columns_.lr) = learningRate;
        const auto& parameters = network_.parameters();
        double* gradNorms = table.row(columns_.paramGradNorm);
        double* valueNorms = table.row(columns_.paramNorm);
        NormAccumulator total;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            gradNorms[i] = l2Norm(parameters[i].parameter->grad);
            total.add(gradNorms[i]);
            // Bit for bit the same either way (addWithNorms), computed only when the last update did not give it.
            valueNorms[i] = valueNormKnown[i] ? valueNormAfterUpdate[i] : l2Norm(parameters[i].parameter->value);
        }
        const double gradNorm = total.norm();
        *table.row(columns_.gradNorm) = gradNorm;

        double* signal = table.row(columns_.signalGradNorm);
        double* mean = table.row(columns_.activationMean);
        double* deviation = table.row(columns_.activationStd);
        for (std::size_t l = 0; l < network_.size(); ++l) {
            signal[l] = l2Norm(network_.signal(l));
            const MatrixType& output = network_.output(l);
            if (output.size() == 0) {
                mean[l] = deviation[l] = NAN;
                continue;
            }
            const Moments moments = meanAndDeviation(output.data(), output.size());  // one pass for both
            mean[l] = moments.mean;
            deviation[l] = moments.deviation;
        }
        lastSignal_.assign(signal, signal + network_.size());
        recordLayerStatistics();
        return gradNorm;
    }

    /// The trace row of a step cut short by a non-finite loss: its step, loss and learning rate.
    void recordNonFiniteRow(std::int64_t step, double loss) {
        trace::Table& table = writer_->table("/trace");
        table.setInteger(columns_.step, step);
        *table.row(columns_.loss) = loss;
        table.commit();
    }

    /// The clipping of the open row: the norm after it and whether (and, per parameter, which) it changed.
    void recordClip(const ClipResult& clip, const std::vector<double>& parameterClipped) {
        trace::Table& table = writer_->table("/trace");
        *table.row(columns_.gradNormClipped) = clip.normAfter;
        table.setInteger(columns_.clipped, clip.clipped ? 1 : 0);
        if (config_.training.clip.mode != "global_norm") {
            std::int64_t* flags = table.integerRow(columns_.parameterClipped);
            for (std::size_t i = 0; i < parameterClipped.size(); ++i) flags[i] = parameterClipped[i] > 0 ? 1 : 0;
        }
    }

    /// The open row's update_norm cells, one per parameter, for the traced update to fill.
    double* updateNorms() { return writer_->table("/trace").row(columns_.updateNorm); }

    /// The open row's param_norm cells (the values before the update).
    const double* valueNorms() { return writer_->table("/trace").row(columns_.paramNorm); }

    /// Commits the open row and flushes the trace when its flush interval has passed.
    void commitStep() {
        writer_->table("/trace").commit();
        writer_->flushIfDue();
    }

    /// Commits the open row of a step cut short by a non-finite gradient (as far as it got).
    void commitTruncatedStep() { writer_->table("/trace").commit(); }

    /// One row of /events.
    void writeEvent(const Event& event) {
        trace::Table& table = writer_->table(schema::events);
        table.setInteger(columns_.eventStep, event.step);
        table.setString(columns_.eventKind, event.kind);
        table.setString(columns_.eventWhere, event.where);
        table.setInteger(columns_.eventTimestep, event.timestep);
        *table.row(columns_.eventValue) = event.value;
        table.setString(columns_.eventMessage, event.message);
        table.commit();
    }

    /// One row of /eval or /test (accuracy only in classification runs), then a flush when one is due.
    void writeEvaluation(EvalSet set, std::int64_t step, double loss, double accuracy) {
        const EvalTable& columns = set == EvalSet::test ? testTable_ : evalTable_;
        trace::Table& eval = writer_->table(columns.name);
        eval.setInteger(columns.step, step);
        *eval.row(columns.loss) = loss;
        if (classification_) *eval.row(columns.accuracy) = accuracy;
        eval.commit();
        writer_->flushIfDue();
    }

    /// Full tensors of every parameter's gradient and value at `step` (/snapshots).
    void writeSnapshot(std::int64_t step) {
        for (const auto& parameter : network_.parameters())
            writer_->writeSnapshot(step, parameter.name, parameter.parameter->grad, parameter.parameter->value);
    }

    /// The signal norms, saturation (per layer, NaN where none) and recurrent (layer, ||dL/dh_1|| / ||dL/dh_T||)
    /// ratios of the last traced step, for the detectors.
    const std::vector<double>& signalNorms() const { return lastSignal_; }
    const std::vector<double>& saturation() const { return saturation_; }
    const std::vector<std::pair<std::size_t, double>>& timestepRatios() const { return timestepRatios_; }

    /// What was said once while tracing (a recurrent layer on non-sequence data).
    const std::vector<std::string>& warnings() const { return warnings_; }

    /// The writer: flushes, row counts for checkpoints, the final status.
    trace::TraceWriter& writer() { return *writer_; }

    /// The model as it ended: every parameter at /model/parameters/<name> and every buffer (batch norm's
    /// running statistics) at /model/buffers/<layer name>.<buffer>, in the run's precision.
    void writeModel() {
        for (const auto& parameter : network_.parameters())
            writer_->writeTensor("/model/parameters", parameter.name, parameter.parameter->value);
        forEachBuffer(network_, [&](const std::string& name, Buffer<Scalar>& buffer) {
            writer_->writeTensor("/model/buffers", name, buffer.value);
        });
    }

    /// Mean-field theory at initialisation (Poole et al. 2016, Schoenholz et al. 2017) in /theory, for models
    /// it describes: dense layers with one element-wise activation (as dense's `activation:` or as activation
    /// layers; identity activations are no-ops). sigma_w^2 = fan_in * mean(W^2) and sigma_b^2 = mean(b^2) are
    /// measured on the initialised hidden dense layers (all dense layers but the last, and but the first when
    /// there are three or more), so any initializer is covered. Where the theory does not apply, or cannot be
    /// computed, /theory holds `applies` = 0 and a `note` saying why; training goes on either way.
    void writeTheory(const PluginHost& host) {
        const std::string group = "/theory";
        std::string whyNot;
        try {
            whyNot = writeMeanField(group, host);
        } catch (const std::exception& error) {
            whyNot = std::string("the mean-field computation failed: ") + error.what();
        }
        if (whyNot.empty()) return;
        writer_->setGroupIntegerAttribute(group, "applies", 0);
        writer_->setGroupAttribute(group, "note", "no mean-field theory: " + whyNot);
    }

private:
    /// Where one layer's statistic is traced.
    struct StatisticSlot {
        std::string name;
        trace::Table* table = nullptr;  ///< /trace/<name>, owned by the writer
        trace::ColumnId column{};
    };

    /// Where an evaluation goes, with its columns.
    struct EvalTable {
        std::string name;
        trace::ColumnId step{}, loss{}, accuracy{};
    };

    struct Columns {
        trace::ColumnId step{}, loss{}, regLoss{}, lr{}, gradNorm{}, paramGradNorm{}, paramNorm{}, updateNorm{},
            signalGradNorm{}, activationMean{}, activationStd{}, saturation{}, gradNormClipped{}, clipped{},
            parameterClipped{}, eventStep{}, eventKind{}, eventWhere{}, eventTimestep{}, eventValue{}, eventMessage{};
    };

    /// Declares the tables every trace has; in a resumed trace they match the file's.
    void declareTables(bool classification) {
        const Index parameters = static_cast<Index>(network_.parameters().size());
        const Index layers = static_cast<Index>(network_.size());
        trace::Table& table = writer_->table("/trace");
        columns_.step = table.addColumn("step", 0, trace::ColumnType::int64);
        columns_.loss = table.addColumn("loss");
        columns_.regLoss = table.addColumn("reg_loss");
        columns_.lr = table.addColumn("lr");
        columns_.gradNorm = table.addColumn("grad_norm");
        columns_.paramGradNorm = table.addColumn("param_grad_norm", parameters);
        columns_.paramNorm = table.addColumn("param_norm", parameters);
        columns_.updateNorm = table.addColumn("update_norm", parameters);
        columns_.signalGradNorm = table.addColumn("signal_grad_norm", layers);
        columns_.activationMean = table.addColumn("activation_mean", layers);
        columns_.activationStd = table.addColumn("activation_std", layers);
        columns_.saturation = table.addColumn("saturation", layers);
        namespace column = schema::eventColumn;
        trace::Table& events = writer_->table(schema::events);
        columns_.eventStep = events.addColumn(column::step, 0, trace::ColumnType::int64);
        columns_.eventKind = events.addColumn(column::kind, 0, trace::ColumnType::string);
        columns_.eventWhere = events.addColumn(column::where, 0, trace::ColumnType::string);
        columns_.eventTimestep = events.addColumn(column::timestep, 0, trace::ColumnType::int64);
        columns_.eventValue = events.addColumn(column::value);
        columns_.eventMessage = events.addColumn(column::message, 0, trace::ColumnType::string);
        if (config_.training.clip.mode != "none") {
            columns_.gradNormClipped = table.addColumn("grad_norm_clipped");
            columns_.clipped = table.addColumn("clipped", 0, trace::ColumnType::int64);
            if (config_.training.clip.mode != "global_norm")
                columns_.parameterClipped = table.addColumn("param_clipped", parameters, trace::ColumnType::int64);
        }
        for (EvalTable* declared : {&evalTable_, &testTable_}) {
            if (declared == &testTable_ && !config_.data.test) continue;
            trace::Table& eval = writer_->table(declared->name);
            declared->step = eval.addColumn("step", 0, trace::ColumnType::int64);
            declared->loss = eval.addColumn("loss");
            if (classification) declared->accuracy = eval.addColumn("accuracy");
        }
    }

    /// Writes what layers report through statistics() to /trace/<statistic>/<layer name>, one row per traced
    /// step; each statistic's table is created at the first traced step that reports it.
    void recordLayerStatistics() {
        saturation_.assign(network_.size(), NAN);
        timestepRatios_.clear();
        for (std::size_t l = 0; l < network_.size(); ++l) {
            statistics_.clear();
            network_.layer(l).statistics(statistics_);
            for (const auto& entry : statistics_.entries()) {
                if (!entry.used) continue;
                const std::string& name = entry.name;
                const std::vector<double>& values = entry.values;
                if (name == "unit_max_slope") {
                    // Saturation: the fraction of units whose |f'| stays below the threshold for the whole batch.
                    std::size_t dead = 0;
                    for (double slope : values) dead += slope < config_.detectors.saturatedSlope ? 1 : 0;
                    saturation_[l] = values.empty() ? NAN : static_cast<double>(dead) / static_cast<double>(values.size());
                    continue;
                }
                const bool perTimestep = name == timestepGradNormStatistic;
                if (perTimestep && values.size() >= 2 && values.back() > 0)
                    timestepRatios_.emplace_back(l, values.front() / values.back());
                // Where this layer's statistic goes; found without allocating after its first traced step.
                StatisticSlot* slot = nullptr;
                for (auto& candidate : statisticSlots_[l])
                    if (candidate.name == name) slot = &candidate;
                if (slot == nullptr) {
                    if (perTimestep && values.size() == 1) warnSingleTimestep(l);
                    slot = &addStatisticSlot(l, name, values.size(), perTimestep);
                }
                std::copy(values.begin(), values.end(), slot->table->row(slot->column));
            }
        }
        for (trace::Table* table : statisticTables_) table->commit();
        double* saturation = writer_->table("/trace").row(columns_.saturation);
        std::copy(saturation_.begin(), saturation_.end(), saturation);
    }

    /// Says once, on stderr and in the run's note, that recurrent layer l runs as T = 1 on non-sequence data.
    void warnSingleTimestep(std::size_t l) {
        const std::string warning = "warning: " + network_.layerNames()[l] + " is recurrent, but data kind '" +
                                    config_.data.kind + "' gives one timestep per sample: it runs as T = 1 (its "
                                    "recurrent weights get no gradient); use sequence data (docs/config-reference.md)";
        std::cerr << (live_ ? "\r\033[K" : "") << warning << "\n";
        warnings_.push_back(warning);
    }

    /// Creates /trace/<name> (if new) and its column for layer l, at the first traced step that reports it: a
    /// column of `width` values, or a scalar column when width is 1 (unless `alwaysVector`, as for per-timestep
    /// statistics, which stay [S x T] at T = 1).
    StatisticSlot& addStatisticSlot(std::size_t l, const std::string& name, std::size_t width, bool alwaysVector) {
        trace::Table& table = writer_->table("/trace/" + name);
        const std::string& layerName = network_.layerNames()[l];
        if (table.rows() > table.keptRows())
            throw Error("layer " + layerName + " reported statistic '" + name + "' only after the first traced step");
        const trace::ColumnId column =
            table.addColumn(layerName, width == 1 && !alwaysVector ? 0 : static_cast<Index>(width));
        if (std::find(statisticTables_.begin(), statisticTables_.end(), &table) == statisticTables_.end())
            statisticTables_.push_back(&table);
        statisticSlots_[l].push_back({name, &table, column});
        return statisticSlots_[l].back();
    }

    /// Writes the mean-field prediction to `group` and returns "", or returns why the theory does not apply.
    std::string writeMeanField(const std::string& group, const PluginHost& host) {
        const theory::DenseStack stack = theory::scanDenseStack(config_.layers, network_.layerNames());
        if (!stack.note.empty()) return stack.note;
        const std::vector<std::size_t>& dense = stack.dense;
        const PluginSpec* activation = stack.activation;
        if (activation == nullptr) return "the model has no activation (a linear network)";
        if (dense.size() < 2) return "fewer than 2 dense layers";
        std::vector<std::size_t> hidden(dense.begin(), dense.end() - 1);
        if (hidden.size() >= 2) hidden.erase(hidden.begin());
        const theory::Variances variances = theory::measuredVariances(network_, config_.layers, hidden);
        const double sigmaW2 = variances.sigmaW2, sigmaB2 = variances.sigmaB2;
        if (!std::isfinite(sigmaW2) || !std::isfinite(sigmaB2))
            return "the initial weights' variance is not finite (sigma_w^2 = " + std::to_string(sigmaW2) +
                   ", sigma_b^2 = " + std::to_string(sigmaB2) + ")";
        auto function = host.makeActivation<double>(*activation);
        function->build(1);
        Random random(0);
        std::vector<NamedParameter<double>> parameters;
        function->collectParameters("", parameters);
        for (auto& parameter : parameters) initializeParameter(*parameter.parameter, host, random);
        const theory::MeanFieldPrediction prediction = theory::meanField(
            [&](double x) { return function->value(x); }, [&](double x) { return function->slope(x); }, sigmaW2, sigmaB2);
        writer_->setGroupIntegerAttribute(group, "applies", 1);
        writer_->setGroupAttribute(group, "activation", activation->name);
        writer_->setGroupAttribute(group, "sigma_w2", prediction.sigmaW2);
        writer_->setGroupAttribute(group, "sigma_b2", prediction.sigmaB2);
        writer_->setGroupAttribute(group, "q_star", prediction.qStar);
        writer_->setGroupAttribute(group, "chi_1", prediction.chi1);
        writer_->setGroupAttribute(group, "c_star", prediction.cStar);
        writer_->setGroupAttribute(group, "chi_c", prediction.chiC);
        writer_->setGroupAttribute(group, "depth_scale_gradient", prediction.depthScaleGradient);
        writer_->setGroupAttribute(group, "depth_scale_correlation", prediction.depthScaleCorrelation);
        writer_->setGroupIntegerAttribute(group, "converged", prediction.converged ? 1 : 0);
        writer_->setGroupAttribute(group, "note",
                                  prediction.note.empty()
                                      ? "sigma_w^2 and sigma_b^2 measured on the initialised hidden dense layers"
                                      : prediction.note);
        return "";
    }

    std::unique_ptr<trace::TraceWriter> writer_;
    const RunConfig& config_;
    Network<Scalar>& network_;
    bool classification_ = false;
    bool live_ = false;
    Columns columns_;
    EvalTable evalTable_{"/eval"}, testTable_{"/test"};
    StatisticsCollector statistics_;
    std::vector<std::vector<StatisticSlot>> statisticSlots_;  ///< per layer
    std::vector<trace::Table*> statisticTables_;              ///< the /trace/<statistic> tables, in creation order
    std::vector<double> lastSignal_;                          ///< per layer, this traced step
    std::vector<double> saturation_;                          ///< per layer, this traced step
    std::vector<std::pair<std::size_t, double>> timestepRatios_;
    std::vector<std::string> warnings_;
};

}  // namespace gradlab
