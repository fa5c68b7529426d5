#include "training/trainer.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "checkpoint/checkpoint.hpp"
#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "model/loss.hpp"
#include "model/network.hpp"
#include "trace/trace_writer.hpp"
#include "training/clipping.hpp"
#include "training/detectors.hpp"
#include "training/norms.hpp"
#include "training/schedule.hpp"
#include "theory/mean_field.hpp"
#include "config/plugin_spec_reader.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gradlab {
namespace {

using Clock = std::chrono::steady_clock;

std::string utcNow() {
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

/// Makes the configured dataset; file errors name the file, generator errors the data section.
data::Dataset loadDataset(const DataConfig& config) {
    data::Dataset dataset;
    if (config.kind == "random_regression")
        dataset = data::makeRandomRegression(config.samples, config.inputs, config.outputs, config.seed);
    else if (config.kind == "teacher")
        dataset = data::makeTeacher(config.samples, config.inputs, config.outputs,
                                    std::vector<Index>(config.hidden.begin(), config.hidden.end()), config.noise,
                                    config.seed);
    else if (config.kind == "spirals")
        dataset = data::makeSpirals(config.samples, config.classes, config.noise, config.seed);
    else if (config.kind == "csv") {
        data::CsvSpec spec;
        spec.header = config.header;
        spec.targetColumns = config.targetColumns;
        spec.classification = config.classification;
        dataset = data::loadCsv(config.file, spec);
    } else if (config.kind == "hdf5")
        dataset = data::loadHdf5(config.file, config.inputsDataset, config.targetsDataset, config.classification);
    else if (config.kind == "hdf5_sequences")
        dataset = data::loadHdf5Sequences(config.file, config.inputsDataset, config.targetsDataset,
                                          config.classification);
    else if (config.kind == "adding_sum")
        dataset = data::makeAddingSum(config.samples, config.timesteps, config.seed);
    else if (config.kind == "adding_mean")
        dataset = data::makeAddingMean(config.samples, config.timesteps, config.seed);
    else if (config.kind == "copy_memory")
        dataset = data::makeCopyMemory(config.samples, config.timesteps, config.seed);
    else if (config.kind == "temporal_order")
        dataset = data::makeTemporalOrder(config.samples, config.timesteps, config.seed);
    else if (config.kind == "noisy_sine")
        dataset = data::makeNoisySine(config.samples, config.timesteps, config.noise, config.seed);
    else
        throw Error(config.where + ": unknown data kind '" + config.kind + "'");
    data::checkFinite(dataset, config.file.empty() ? config.kind : config.file);
    return dataset;
}

/// Whether a regularizer's `params:` selection takes this parameter.
template <typename Scalar>
bool selects(const std::string& pattern, const NamedParameter<Scalar>& parameter) {
    if (pattern == "weights") return parameter.parameter->init.isWeight;
    if (pattern == "all") return true;
    return fnmatch(pattern.c_str(), parameter.name.c_str(), 0) == 0;
}

std::string formatSeconds(double seconds) {
    char text[32];
    if (seconds < 60)
        std::snprintf(text, sizeof text, "%.1fs", seconds);
    else if (seconds < 3600)
        std::snprintf(text, sizeof text, "%dm%02ds", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
    else
        std::snprintf(text, sizeof text, "%dh%02dm", static_cast<int>(seconds) / 3600,
                      (static_cast<int>(seconds) / 60) % 60);
    return text;
}

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

/// One run in one precision: owns the model, the optimizer state, the buffers and the trace.
template <typename Scalar>
class TrainingRun {
public:
    using MatrixType = Matrix<Scalar>;

    TrainingRun(const RunConfig& config, const PluginHost& host, const RunOptions& options)
        : config_(config), host_(host), options_(options) {
        Random master(config.seed);
        Random initRandom(master.next());
        const std::uint64_t batchSeed = master.next();

        data::Dataset dataset = loadDataset(config.data);
        data::Split split = data::splitValidation(dataset, config.data.validation, config.data.seed);
        train_ = std::move(split.train);
        validation_ = std::move(split.validation);
        if (train_.inputs.cols() < 1) throw Error(config.data.where + ": no training samples left after the split");
        classification_ = train_.classes > 0;

        network_ = std::make_unique<Network<Scalar>>(config.layers, train_.inputShape(), host, initRandom);
        checkOutputShape();
        loss_ = makeLoss<Scalar>(config.loss.kind, config.loss.fromLogits);
        // Sequence targets may mark steps without a target with NaN.
        loss_->setMasked(train_.targetTimesteps > 1 && train_.targets.hasNaN());

        optimizer_ = host.makeOptimizer<Scalar>(config.optimizer);
        std::vector<ParameterSlot> slots;
        for (const auto& parameter : network_->parameters())
            slots.push_back({parameter.name, parameter.parameter->value.rows(), parameter.parameter->value.cols()});
        optimizer_->attach(slots);
        deltas_.resize(slots.size());
        for (std::size_t i = 0; i < slots.size(); ++i) deltas_[i].setZero(slots[i].rows, slots[i].cols);
        valueNormAfterUpdate_.assign(slots.size(), 0.0);
        valueNormKnown_.assign(slots.size(), 0);

        for (const auto& regularizerConfig : config.regularizers) {
            Regularized entry{host.makeRegularizer<Scalar>(regularizerConfig.spec), {}};
            for (std::size_t i = 0; i < network_->parameters().size(); ++i)
                if (selects(regularizerConfig.params, network_->parameters()[i])) entry.parameters.push_back(i);
            if (entry.parameters.empty())
                throw Error(config.file + ": regularizer '" + regularizerConfig.spec.name + "': params '" +
                            regularizerConfig.params + "' selects no parameter");
            regularizers_.push_back(std::move(entry));
        }

        batcher_ = std::make_unique<data::Batcher<Scalar>>(train_, config.training.batchSize, config.data.shuffle,
                                                            batchSeed);
        detectors_ = std::make_unique<Detectors>(config.detectors, network_->layerNames());
        statisticSlots_.resize(network_->size());
        saturation_.assign(network_->size(), NAN);
    }

    RunResult run() {
        RunResult result;
        result.output = options_.output.empty() ? config_.output : options_.output;
        result.checkpoint = checkpointPath(config_, options_.output);
        // The trace first: an unwritable output folder is then reported for the file the user asked for. Its
        // folder is checked again when the trace is created (traceHeader), so the checkpoint's is only checked
        // here when it differs.
        const auto folderOf = [](const std::string& path) { return std::filesystem::path(path).parent_path(); };
        if (config_.trace.enabled) checkWritable(result.output);
        if (config_.checkpoint.enabled &&
            (!config_.trace.enabled || folderOf(result.checkpoint) != folderOf(result.output)))
            checkWritable(result.checkpoint);
        std::int64_t firstStep = 0;
        if (options_.resume && std::filesystem::exists(result.checkpoint)) {
            firstStep = resume(result);
        } else {
            if (options_.resume)
                result.note = "no checkpoint '" + result.checkpoint + "' (the run stopped before its first one): "
                              "started from step 0";
            if (config_.trace.enabled) {
                trace_ = std::make_unique<trace::TraceWriter>(result.output, traceHeader(), config_.trace.flushEvery);
                declareTables();
                writeTheory();
            }
        }
        if (!config_.trace.enabled) result.output.clear();
        result.firstStep = firstStep;

        const std::int64_t steps = config_.training.steps;
        const auto start = Clock::now();
        auto lastReport = start;
        auto lastCheckpoint = start;
        const double baseLearningRate = optimizer_->learningRate();
        try {
            for (step_ = firstStep; step_ < steps; ++step_) {
                if (options_.interrupted != nullptr && *options_.interrupted != 0) {
                    result.status = "interrupted";
                    result.message = "interrupted by signal " + std::to_string(*options_.interrupted) + " before step " +
                                     std::to_string(step_);
                    if (config_.checkpoint.enabled) {
                        saveCheckpoint(result, step_);
                        result.message += "; resume with --resume";
                    }
                    break;
                }
                const bool traced = config_.trace.enabled &&
                                    (step_ % config_.trace.every == 0 || step_ == steps - 1);
                const double learningRate =
                    baseLearningRate * scheduleFactor(config_.training.schedule, step_, steps);
                const double loss = trainStep(traced, learningRate);
                if (step_ == 0) result.firstLoss = loss;
                result.lastLoss = loss;
                result.steps = step_ + 1;
                if (traced) {
                    if (step_ == 0) result.firstGradNorm = lastGradNorm_;
                    result.lastGradNorm = lastGradNorm_;
                }
                if (nonFinite_ && result.divergedAt < 0) {
                    result.divergedAt = step_;
                    if (config_.detectors.nonFiniteStops) {
                        result.status = "diverged";
                        for (const auto& event : events_)
                            if (event.kind == "non_finite") result.message = event.message;
                        break;
                    }
                }
                if (stopRequested_) {
                    result.status = "stopped";
                    result.message = "stopped by the " + events_.back().kind + " detector at step " +
                                     std::to_string(step_) + ": " + events_.back().message;
                    break;
                }
                const bool evaluate = (config_.training.evalEvery > 0 && step_ % config_.training.evalEvery == 0) ||
                                      step_ == steps - 1;
                if (evaluate && trace_) evaluateAndTrace();
                const auto now = Clock::now();
                if (options_.progress != ProgressStyle::none) report(now, start, lastReport, loss, firstStep, steps);
                if (config_.checkpoint.enabled && step_ + 1 < steps) {
                    const CheckpointConfig& every = config_.checkpoint;
                    const bool byStep = every.every > 0 && (step_ + 1) % every.every == 0;
                    const bool byTime =
                        every.seconds > 0 && std::chrono::duration<double>(now - lastCheckpoint).count() >= every.seconds;
                    if (byStep || byTime) {
                        saveCheckpoint(result, step_ + 1);
                        lastCheckpoint = now;
                    }
                }
            }
            if (result.status.empty()) {
                result.status = "completed";
                result.message = std::to_string(result.steps) + " steps";
            }
        } catch (const std::exception& error) {
            result.status = "failed";
            result.message = "step " + std::to_string(step_) + ": " + error.what();
        }
        result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (options_.progress == ProgressStyle::live) std::cerr << "\r\033[K" << std::flush;
        result.signalProfile = signalProfile();
        result.events = events_;
        if (trace_) {
            try {
                writeModel();
            } catch (const std::exception& error) {
                if (result.status != "failed") result.status = "failed";
                result.message += std::string("; cannot save the model: ") + error.what();
            }
            trace_->finish(result.status, result.message, utcNow());
        }
        // A finished run needs no checkpoint; an interrupted or failed one keeps it for --resume.
        if (result.status != "interrupted" && result.status != "failed") {
            std::error_code ignored;
            std::filesystem::remove(result.checkpoint, ignored);
        }
        return result;
    }

private:
    /// Where one layer's statistic is traced.
    struct StatisticSlot {
        std::string name;
        trace::Table* table = nullptr;  ///< /trace/<name>, owned by the writer
        trace::ColumnId column{};
    };

    struct Regularized {
        std::shared_ptr<Regularizer<Scalar>> regularizer;
        std::vector<std::size_t> parameters;
    };

    void checkOutputShape() {
        const Shape output = network_->outputShape();
        if (output.timesteps != train_.targetTimesteps)
            throw Error(config_.file + ": the model ends with " + std::to_string(output.timesteps) +
                        " timestep(s) but the data has " + std::to_string(train_.targetTimesteps) +
                        " target timestep(s)" +
                        (train_.targetTimesteps == 1 ? "; end the recurrent layers with return_sequences: false"
                                                     : "; keep return_sequences: true up to the head"));
        const Index outputs = output.features;
        const std::string& loss = config_.loss.kind;
        const bool classIndices = classification_ && train_.outputs() == 1;
        Index expected = train_.outputs();
        if (classIndices && loss == "softmax_cross_entropy") expected = train_.classes;
        if (classIndices && (loss == "sse" || loss == "mse"))
            throw Error(config_.file + ": loss '" + loss + "' needs numeric targets, but the data has class labels "
                        "(use softmax_cross_entropy, or binary_cross_entropy for two classes)");
        if (classIndices && loss == "binary_cross_entropy" && train_.classes > 2)
            throw Error(config_.file + ": binary_cross_entropy needs two classes, the data has " +
                        std::to_string(train_.classes));
        if (outputs != expected)
            throw Error(config_.file + ": the model ends with " + std::to_string(outputs) + " outputs, but " +
                        (classIndices && loss == "softmax_cross_entropy"
                             ? "the data has " + std::to_string(train_.classes) + " classes"
                             : "the targets have " + std::to_string(expected) + " rows") +
                        "; set the last layer's units to " + std::to_string(expected));
    }

    /// Creates the folder of an output file and checks that a megabyte can be written there, so that an
    /// unwritable or full location fails before training rather than at the first flush or checkpoint.
    static void checkWritable(const std::string& path) {
        const std::filesystem::path file(path);
        const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : ".";
        std::error_code error;
        std::filesystem::create_directories(folder, error);
        if (error) throw Error("cannot create the output folder '" + folder.string() + "': " + error.message());
        const std::string probe = (folder / (".gradlab-write-test-" + std::to_string(::getpid()))).string();
        std::FILE* handle = std::fopen(probe.c_str(), "w");
        if (handle == nullptr)
            throw Error("cannot write in the output folder '" + folder.string() + "' (for '" + path +
                        "'): " + std::strerror(errno));
        static const std::vector<char> megabyte(1 << 20, 0);
        const bool written = std::fwrite(megabyte.data(), 1, megabyte.size(), handle) == megabyte.size() &&
                             std::fflush(handle) == 0;
        const int reason = errno;
        std::fclose(handle);
        std::filesystem::remove(probe, error);
        if (!written)
            throw Error("cannot write 1 MB in the output folder '" + folder.string() + "' (for '" + path +
                        "'): " + std::strerror(reason) + "; free some space or choose another output");
    }

    trace::TraceHeader traceHeader() {
        checkWritable(options_.output.empty() ? config_.output : options_.output);
        trace::TraceHeader header;
        header.gradlabVersion = GRADLAB_VERSION;
        header.config = config_.resolvedYaml;
        header.seed = config_.seed;
        header.precision = config_.precision;
        header.startedAt = utcNow();
        header.layerNames = network_->layerNames();
        header.layerKinds = network_->layerKinds();
        for (const auto& parameter : network_->parameters()) header.paramNames.push_back(parameter.name);
        return header;
    }

    /// Declares the tables every trace has; in a resumed trace they match the file's.
    void declareTables() {
        const Index parameters = static_cast<Index>(network_->parameters().size());
        const Index layers = static_cast<Index>(network_->size());
        trace::Table& table = trace_->table("/trace");
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
        trace::Table& events = trace_->table("/events");
        columns_.eventStep = events.addColumn("step", 0, trace::ColumnType::int64);
        columns_.eventKind = events.addColumn("kind", 0, trace::ColumnType::string);
        columns_.eventWhere = events.addColumn("where", 0, trace::ColumnType::string);
        columns_.eventTimestep = events.addColumn("timestep", 0, trace::ColumnType::int64);
        columns_.eventValue = events.addColumn("value");
        columns_.eventMessage = events.addColumn("message", 0, trace::ColumnType::string);
        if (config_.training.clip.mode != "none") {
            columns_.gradNormClipped = table.addColumn("grad_norm_clipped");
            columns_.clipped = table.addColumn("clipped", 0, trace::ColumnType::int64);
            if (config_.training.clip.mode != "global_norm")
                columns_.parameterClipped = table.addColumn("param_clipped", parameters, trace::ColumnType::int64);
        }
        trace::Table& eval = trace_->table("/eval");
        columns_.evalStep = eval.addColumn("step", 0, trace::ColumnType::int64);
        columns_.evalLoss = eval.addColumn("loss");
        if (classification_) columns_.evalAccuracy = eval.addColumn("accuracy");
    }

    /// The model as it ended: every parameter at /model/parameters/<name> and every buffer (batch norm's
    /// running statistics) at /model/buffers/<layer name>.<buffer>, in the run's precision.
    void writeModel() {
        for (const auto& parameter : network_->parameters())
            trace_->writeTensor("/model/parameters", parameter.name, parameter.parameter->value);
        for (std::size_t l = 0; l < network_->size(); ++l) {
            std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;
            network_->layer(l).collectBuffers(network_->layerNames()[l] + ".", buffers);
            for (const auto& [name, buffer] : buffers) trace_->writeTensor("/model/buffers", name, buffer->value);
        }
    }

    /// Writes the state after `completed` steps to the checkpoint, atomically; the trace is flushed first, so
    /// that it holds every row the checkpoint counts.
    void saveCheckpoint(const RunResult& result, std::int64_t completed) {
        if (trace_) trace_->flush();
        checkpoint::CheckpointWriter writer(result.checkpoint);
        checkpoint::RunState state;
        state.step = completed;
        state.config = config_.resolvedYaml;
        state.precision = config_.precision;
        state.trace = trace_ ? result.output : "";
        state.batcherPosition = batcher_->position();
        state.nonFinite = nonFinite_;
        state.divergedAt = result.divergedAt;
        state.firstLoss = result.firstLoss;
        state.lastLoss = result.lastLoss;
        state.firstGradNorm = result.firstGradNorm;
        state.lastGradNorm = result.lastGradNorm;
        state.events = events_;
        state.detectors = detectors_->state();
        if (trace_) state.traceRows = trace_->tableRows();
        writer.writeState(state);
        for (const auto& parameter : network_->parameters())
            writer.writeTensor("/parameters", parameter.name, parameter.parameter->value);
        for (std::size_t l = 0; l < network_->size(); ++l) {
            std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;
            network_->layer(l).collectBuffers(network_->layerNames()[l] + ".", buffers);
            for (const auto& [name, buffer] : buffers) writer.writeTensor("/buffers", name, buffer->value);
        }
        checkpoint::StateSaver<Scalar> saver(writer, "/optimizer");
        optimizer_->visitState(saver);
        writer.commit();
    }

    /// Restores the run from its checkpoint and reopens its trace at the checkpoint's step; returns that step.
    std::int64_t resume(RunResult& result) {
        const checkpoint::CheckpointReader reader(result.checkpoint);
        const checkpoint::RunState& state = reader.state();
        const std::string where = "cannot resume from '" + result.checkpoint + "': ";
        // The resolved config covers precision, steps and the model: one comparison says what differs.
        if (state.config != config_.resolvedYaml)
            throw Error(where + "it was written with a different config (" + firstDifference(state.config,
                        config_.resolvedYaml) + "); resume with the config and --set overrides of the killed run, "
                        "or run without --resume to start afresh");
        for (const auto& parameter : network_->parameters())
            reader.readTensor("/parameters", parameter.name, parameter.parameter->value);
        for (std::size_t l = 0; l < network_->size(); ++l) {
            std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;
            network_->layer(l).collectBuffers(network_->layerNames()[l] + ".", buffers);
            for (const auto& [name, buffer] : buffers) reader.readTensor("/buffers", name, buffer->value);
        }
        checkpoint::StateRestorer<Scalar> restorer(reader, "/optimizer", "optimizer '" + config_.optimizer.name + "'");
        optimizer_->visitState(restorer);
        restorer.finish();
        batcher_->setPosition(state.batcherPosition);
        detectors_->restore(state.detectors);
        nonFinite_ = state.nonFinite;
        events_ = state.events;
        result.divergedAt = state.divergedAt;
        result.firstLoss = state.firstLoss;
        result.lastLoss = state.lastLoss;
        result.firstGradNorm = state.firstGradNorm;
        result.lastGradNorm = state.lastGradNorm;
        result.steps = state.step;
        if (config_.trace.enabled) {
            if (!std::filesystem::exists(result.output))
                throw Error(where + "its trace '" + result.output + "' is gone (give the same --output as the "
                            "killed run, or run without --resume to start afresh)");
            trace_ = std::make_unique<trace::TraceWriter>(result.output, trace::ResumePoint{state.step, state.traceRows},
                                                          config_.trace.flushEvery);
            declareTables();
        }
        result.note = "resumed at step " + std::to_string(state.step) + " from '" + result.checkpoint + "'";
        return state.step;
    }

    /// "line N: 'a' vs 'b'" for the first line where two texts differ.
    static std::string firstDifference(const std::string& saved, const std::string& current) {
        std::istringstream a(saved), b(current);
        std::string lineA, lineB;
        for (int line = 1;; ++line) {
            const bool moreA = static_cast<bool>(std::getline(a, lineA));
            const bool moreB = static_cast<bool>(std::getline(b, lineB));
            if (!moreA && !moreB) return "they differ in whitespace only";
            if (!moreA) lineA = "(end)";
            if (!moreB) lineB = "(end)";
            if (!moreA || !moreB || lineA != lineB)
                return "resolved config line " + std::to_string(line) + ": checkpoint '" + lineA + "', now '" +
                       lineB + "'";
        }
    }

    /// Mean-field theory at initialisation (Poole et al. 2016, Schoenholz et al. 2017) in /theory, for models
    /// it describes: dense layers with one element-wise activation (as dense's `activation:` or as activation
    /// layers). sigma_w^2 = fan_in * mean(W^2) and sigma_b^2 = mean(b^2) are measured on the initialised hidden
    /// dense layers (all dense layers but the last, and but the first when there are three or more), so any
    /// initializer is covered. Other models (normalisation, residual, recurrent layers) get no /theory.
    void writeTheory() {
        std::vector<std::size_t> dense;
        const PluginSpec* activation = nullptr;
        std::string activationName;
        for (std::size_t l = 0; l < config_.layers.size(); ++l) {
            const PluginSpec& spec = config_.layers[l];
            const PluginSpec* used = nullptr;
            if (spec.name == "dense") {
                dense.push_back(l);
                if (spec.options->plugin("activation").name != "identity") used = &spec.options->plugin("activation");
            } else if (spec.name == "activation") {
                used = &spec.options->plugin("activation");
            } else {
                return;  // not an MLP of dense layers and activations
            }
            if (used == nullptr) continue;
            if (activation != nullptr && used->name != activationName) return;  // mixed activations
            activation = used;
            activationName = used->name;
        }
        if (activation == nullptr || dense.size() < 2) return;
        std::vector<std::size_t> hidden(dense.begin(), dense.end() - 1);
        if (hidden.size() >= 2) hidden.erase(hidden.begin());
        double weightVariance = 0, biasVariance = 0;
        for (std::size_t l : hidden) {
            Layer<Scalar>& layer = network_->layer(l);
            const auto& weight = layer.param("W").value;
            weightVariance += static_cast<double>(weight.squaredNorm()) / static_cast<double>(weight.rows());
            if (config_.layers[l].options->boolean("bias")) {
                const auto& bias = layer.param("b").value;
                biasVariance += static_cast<double>(bias.squaredNorm()) / static_cast<double>(bias.size());
            }
        }
        const double sigmaW2 = weightVariance / static_cast<double>(hidden.size());
        const double sigmaB2 = biasVariance / static_cast<double>(hidden.size());
        auto function = host_.makeActivation<double>(*activation);
        function->build(1);
        Random random(0);
        std::vector<NamedParameter<double>> parameters;
        function->collectParameters("", parameters);
        for (auto& parameter : parameters)
            host_.makeInitializer<double>(readPluginSpecText(parameter.parameter->init.initializer, PluginKind::initializer,
                                                             host_, "initializer"))
                ->initialize(parameter.parameter->value, parameter.parameter->init, random);
        const theory::MeanFieldPrediction prediction = theory::meanField(
            [&](double x) { return function->value(x); }, [&](double x) { return function->slope(x); }, sigmaW2, sigmaB2);
        const std::string group = "/theory";
        trace_->setGroupAttribute(group, "activation", activationName);
        trace_->setGroupAttribute(group, "sigma_w2", prediction.sigmaW2);
        trace_->setGroupAttribute(group, "sigma_b2", prediction.sigmaB2);
        trace_->setGroupAttribute(group, "q_star", prediction.qStar);
        trace_->setGroupAttribute(group, "chi_1", prediction.chi1);
        trace_->setGroupAttribute(group, "c_star", prediction.cStar);
        trace_->setGroupAttribute(group, "chi_c", prediction.chiC);
        trace_->setGroupAttribute(group, "depth_scale_gradient", prediction.depthScaleGradient);
        trace_->setGroupAttribute(group, "depth_scale_correlation", prediction.depthScaleCorrelation);
        trace_->setGroupIntegerAttribute(group, "converged", prediction.converged ? 1 : 0);
        trace_->setGroupAttribute(group, "note",
                                  prediction.note.empty()
                                      ? "sigma_w^2 and sigma_b^2 measured on the initialised hidden dense layers"
                                      : prediction.note);
    }

    /// One step: forward, loss, backward, penalties, update; traced quantities when asked. Returns the loss.
    double trainStep(bool traced, double learningRate) {
        batcher_->next(x_, y_);
        if (traced != tracingLayers_) {
            for (std::size_t l = 0; l < network_->size(); ++l) network_->layer(l).setTracing(traced);
            tracingLayers_ = traced;
        }
        const MatrixType& prediction = network_->forward(x_, Phase::train);
        const double loss = loss_->evaluate(prediction, y_, network_->outputGradient());
        if (!std::isfinite(loss) && !nonFinite_) {
            // Locate before the update touches anything; with the stop action the step ends here.
            recordEvent(locateForward(loss));
            nonFinite_ = true;
            if (config_.detectors.nonFiniteStops) {
                if (traced) recordNonFiniteRow(loss);
                return loss;
            }
        }
        network_->backward(x_, /*zeroGradients=*/true);

        double penalty = 0;
        for (const auto& entry : regularizers_)
            for (std::size_t index : entry.parameters) {
                Parameter<Scalar>& parameter = *network_->parameters()[index].parameter;
                if (traced) penalty += entry.regularizer->penalty(parameter.value);
                entry.regularizer->addGradient(parameter.value, parameter.grad);
            }

        if (traced) {
            recordBeforeUpdate(loss, penalty, learningRate);
            if (!std::isfinite(lastGradNorm_) && !nonFinite_) {
                recordEvent(locateBackward());
                nonFinite_ = true;
                if (config_.detectors.nonFiniteStops) {
                    trace_->table("/trace").commit();
                    return loss;
                }
            }
        }
        if (config_.training.clip.mode != "none") {
            const ClipResult clip = clipGradients(config_.training.clip, network_->parameters(), parameterClipped_);
            if (traced) {
                trace::Table& table = trace_->table("/trace");
                *table.row(columns_.gradNormClipped) = clip.normAfter;
                table.setInteger(columns_.clipped, clip.clipped ? 1 : 0);
                if (config_.training.clip.mode != "global_norm") {
                    std::int64_t* flags = table.integerRow(columns_.parameterClipped);
                    for (std::size_t i = 0; i < parameterClipped_.size(); ++i)
                        flags[i] = parameterClipped_[i] > 0 ? 1 : 0;
                }
            }
        }
        if (config_.trace.snapshotEvery > 0 && trace_ && step_ % config_.trace.snapshotEvery == 0)
            for (const auto& parameter : network_->parameters())
                trace_->writeSnapshot(step_, parameter.name, parameter.parameter->grad, parameter.parameter->value);

        // Traced, the update also gives ||update|| and ||value|| afterwards in the same pass (addWithNorms); the
        // latter is the next step's ||value|| before its update, unless a projection changes the value first.
        const auto& parameters = network_->parameters();
        double* updateNorm = traced ? trace_->table("/trace").row(columns_.updateNorm) : nullptr;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            Parameter<Scalar>& parameter = *parameters[i].parameter;
            optimizer_->update(i, parameter.value, parameter.grad, learningRate, step_ + 1, deltas_[i]);
            if (traced)
                addWithNorms(parameter.value, deltas_[i], updateNorm[i], valueNormAfterUpdate_[i]);
            else
                parameter.value += deltas_[i];
            valueNormKnown_[i] = traced ? 1 : 0;
        }
        for (const auto& entry : regularizers_)
            for (std::size_t index : entry.parameters) {
                entry.regularizer->project(parameters[index].parameter->value);
                valueNormKnown_[index] = 0;
            }

        if (traced) {
            trace::Table& table = trace_->table("/trace");
            const double* valueNorm = table.row(columns_.paramNorm);
            double updateSquares = 0, valueSquares = 0;
            for (std::size_t i = 0; i < parameters.size(); ++i) {
                updateSquares += updateNorm[i] * updateNorm[i];
                valueSquares += valueNorm[i] * valueNorm[i];
                if (!std::isfinite(updateNorm[i]) && !nonFinite_) {
                    recordEvent({step_, "non_finite", "update " + parameters[i].name, -1, updateNorm[i],
                                 "the update of " + parameters[i].name + " became non-finite at step " +
                                     std::to_string(step_)});
                    nonFinite_ = true;
                }
            }
            StepMeasurements measured;
            measured.step = step_;
            measured.loss = loss;
            measured.gradNorm = lastGradNorm_;
            measured.updateRatio = valueSquares > 0 ? std::sqrt(updateSquares / valueSquares) : NAN;
            measured.signalNorms = &lastSignal_;
            measured.saturation = &saturation_;
            measured.timestepRatios = &timestepRatios_;
            firedScratch_.clear();
            if (detectors_->observe(measured, firedScratch_)) stopRequested_ = true;
            for (const auto& event : firedScratch_) recordEvent(event);
            table.commit();
            trace_->flushIfDue();
        }
        return loss;
    }

    /// Norms and statistics of the step, from the gradients and values before the update.
    void recordBeforeUpdate(double loss, double penalty, double learningRate) {
        trace::Table& table = trace_->table("/trace");
        table.setInteger(columns_.step, step_);
        *table.row(columns_.loss) = loss;
        *table.row(columns_.regLoss) = penalty;
        *table.row(columns_.lr) = learningRate;
        const auto& parameters = network_->parameters();
        double* gradNorms = table.row(columns_.paramGradNorm);
        double* valueNorms = table.row(columns_.paramNorm);
        double total = 0;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            gradNorms[i] = l2Norm(parameters[i].parameter->grad);
            total += gradNorms[i] * gradNorms[i];
            // Bit for bit the same either way (addWithNorms), computed only when the last update did not give it.
            valueNorms[i] = valueNormKnown_[i] ? valueNormAfterUpdate_[i] : l2Norm(parameters[i].parameter->value);
        }
        lastGradNorm_ = std::sqrt(total);
        *table.row(columns_.gradNorm) = lastGradNorm_;

        double* signal = table.row(columns_.signalGradNorm);
        double* mean = table.row(columns_.activationMean);
        double* deviation = table.row(columns_.activationStd);
        for (std::size_t l = 0; l < network_->size(); ++l) {
            signal[l] = l2Norm(network_->signal(l));
            const MatrixType& output = network_->output(l);
            const double count = static_cast<double>(output.size());
            Scalar sum = 0, squares = 0;
            detail::sumAndSumOfSquares(output.data(), output.size(), sum, squares);  // one pass for both
            mean[l] = static_cast<double>(sum) / count;
            const double rms = l2NormFromSquares(output, squares) / std::sqrt(count);
            deviation[l] = std::sqrt(std::max(0.0, rms * rms - mean[l] * mean[l]));
        }
        lastSignal_.assign(signal, signal + network_->size());
        recordLayerStatistics();
    }

    /// Writes what layers report through statistics() to /trace/<statistic>/<layer name>, one row per traced
    /// step; each statistic's table is created at the first traced step that reports it.
    void recordLayerStatistics() {
        saturation_.assign(network_->size(), NAN);
        timestepRatios_.clear();
        for (std::size_t l = 0; l < network_->size(); ++l) {
            statistics_.clear();
            network_->layer(l).statistics(statistics_);
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
                if (name == "timestep_grad_norm" && values.size() >= 2 && values.back() > 0)
                    timestepRatios_.emplace_back(l, values.front() / values.back());
                // Where this layer's statistic goes; found without allocating after its first traced step.
                StatisticSlot* slot = nullptr;
                for (auto& candidate : statisticSlots_[l])
                    if (candidate.name == name) slot = &candidate;
                if (slot == nullptr) slot = &addStatisticSlot(l, name, values.size());
                std::copy(values.begin(), values.end(), slot->table->row(slot->column));
            }
        }
        for (trace::Table* table : statisticTables_) table->commit();
        double* saturation = trace_->table("/trace").row(columns_.saturation);
        std::copy(saturation_.begin(), saturation_.end(), saturation);
    }

    /// Creates /trace/<name> (if new) and its column for layer l, at the first traced step that reports it.
    StatisticSlot& addStatisticSlot(std::size_t l, const std::string& name, std::size_t width) {
        trace::Table& table = trace_->table("/trace/" + name);
        const std::string& layerName = network_->layerNames()[l];
        if (table.rows() > table.keptRows())
            throw Error("layer " + layerName + " reported statistic '" + name + "' only after the first traced step");
        const trace::ColumnId column = table.addColumn(layerName, width == 1 ? 0 : static_cast<Index>(width));
        if (std::find(statisticTables_.begin(), statisticTables_.end(), &table) == statisticTables_.end())
            statisticTables_.push_back(&table);
        statisticSlots_[l].push_back({name, &table, column});
        return statisticSlots_[l].back();
    }

    /// Finds where a non-finite loss came from: a parameter left non-finite by the previous update, else the
    /// first layer whose output is non-finite (and its first such timestep), else the loss itself.
    Event locateForward(double loss) {
        Event event{step_, "non_finite", "", -1, loss, ""};
        const std::string what = std::string("loss became ") + (std::isnan(loss) ? "NaN" : "Inf") + " at step " +
                                 std::to_string(step_);
        for (const auto& parameter : network_->parameters())
            if (!parameter.parameter->value.allFinite()) {
                event.where = "update " + parameter.name;
                event.message = what + "; first non-finite value: " + parameter.name + " after the update of step " +
                                std::to_string(step_ - 1);
                return event;
            }
        for (std::size_t l = 0; l < network_->size(); ++l)
            if (!network_->output(l).allFinite()) {
                event.where = "forward " + network_->layerNames()[l];
                event.timestep = firstNonFiniteTimestep(network_->output(l), network_->outputShape(l));
                event.message = what + "; first non-finite value: forward output of " + network_->layerNames()[l] +
                                (event.timestep >= 0 ? " at timestep " + std::to_string(event.timestep) : "");
                return event;
            }
        event.where = "forward loss";
        event.message = what + "; the network's output is finite: the loss itself overflowed";
        return event;
    }

    /// Finds where a non-finite gradient came from: the first non-finite signal in backward order (from the
    /// output towards the input), else the first non-finite parameter gradient.
    Event locateBackward() {
        Event event{step_, "non_finite", "", -1, lastGradNorm_, ""};
        const std::string what = "gradient norm became " + std::string(std::isnan(lastGradNorm_) ? "NaN" : "Inf") +
                                 " at step " + std::to_string(step_);
        for (std::size_t l = network_->size(); l-- > 0;)
            if (!network_->signal(l).allFinite()) {
                event.where = "backward " + network_->layerNames()[l];
                event.timestep = firstNonFiniteTimestep(network_->signal(l), network_->outputShape(l));
                event.message = what + "; first non-finite value: the gradient at the output of " +
                                network_->layerNames()[l] +
                                (event.timestep >= 0 ? " at timestep " + std::to_string(event.timestep) : "");
                return event;
            }
        for (const auto& parameter : network_->parameters())
            if (!parameter.parameter->grad.allFinite()) {
                event.where = "backward " + parameter.name;
                event.message = what + "; first non-finite value: the gradient of " + parameter.name;
                return event;
            }
        event.where = "backward";
        event.message = what;
        return event;
    }

    /// For a sequence output [features x (T * batch)], the first timestep holding a non-finite value; -1 for
    /// non-sequence outputs.
    static std::int64_t firstNonFiniteTimestep(const MatrixType& values, Shape shape) {
        if (shape.timesteps <= 1 || values.cols() == 0) return -1;
        const Index batch = values.cols() / shape.timesteps;
        for (Index t = 0; t < shape.timesteps; ++t)
            if (!values.middleCols(t * batch, batch).allFinite()) return t;
        return -1;
    }

    /// The trace row of a step cut short by a non-finite loss: its step, loss and learning rate.
    void recordNonFiniteRow(double loss) {
        trace::Table& table = trace_->table("/trace");
        table.setInteger(columns_.step, step_);
        *table.row(columns_.loss) = loss;
        table.commit();
    }

    /// Keeps an event, writes it to /events and says it on the progress stream.
    void recordEvent(const Event& event) {
        events_.push_back(event);
        if (options_.progress != ProgressStyle::none)
            std::cerr << (options_.progress == ProgressStyle::live ? "\r\033[K" : "") << "event at step " << event.step
                      << ": " << event.kind << " (" << event.where << "): " << event.message << "\n";
        if (!trace_) return;
        trace::Table& table = trace_->table("/events");
        table.setInteger(columns_.eventStep, event.step);
        table.setString(columns_.eventKind, event.kind);
        table.setString(columns_.eventWhere, event.where);
        table.setInteger(columns_.eventTimestep, event.timestep);
        *table.row(columns_.eventValue) = event.value;
        table.setString(columns_.eventMessage, event.message);
        table.commit();
    }

    /// Loss (and accuracy) on the validation set, or on the training set when there is none.
    void evaluateAndTrace() {
        const data::Dataset& set = validation_.inputs.cols() > 0 ? validation_ : train_;
        const Index samples = set.inputs.cols();
        const Index chunk = std::min<Index>(samples, std::max<Index>(config_.training.batchSize, 256));
        double lossSum = 0, correct = 0, counted = 0;
        bool hasAccuracy = classification_;
        for (Index start = 0; start < samples; start += chunk) {
            const Index count = std::min(chunk, samples - start);
            toLayout(set.inputs, set.timesteps, start, count, evalX_);
            toLayout(set.targets, set.targetTimesteps, start, count, evalY_);
            const MatrixType& prediction = network_->forward(evalX_, Phase::eval);
            lossSum += loss_->value(prediction, evalY_) * static_cast<double>(count);
            if (hasAccuracy) {
                const double hits = loss_->correct(prediction, evalY_);
                if (hits < 0) hasAccuracy = false;
                correct += hits;
                counted += loss_->counted(prediction, evalY_);
            }
        }
        trace::Table& eval = trace_->table("/eval");
        eval.setInteger(columns_.evalStep, step_);
        // sse sums over the batch; report it per sample-batch the way training does: mean of batch losses
        // scaled to the training batch size keeps the two comparable.
        double loss = lossSum / static_cast<double>(samples);
        if (config_.loss.kind == "sse") loss *= static_cast<double>(config_.training.batchSize);
        *eval.row(columns_.evalLoss) = loss;
        if (classification_) *eval.row(columns_.evalAccuracy) = hasAccuracy && counted > 0 ? correct / counted : NAN;
        eval.commit();
        trace_->flushIfDue();
    }

    /// Samples [start, start + count) of a dataset matrix (one sequence per column, timestep-major rows) in the
    /// layers' layout [rows / timesteps x (timesteps * count)], step t of sample b in column t * count + b.
    static void toLayout(const Eigen::MatrixXd& source, Index timesteps, Index start, Index count, MatrixType& out) {
        const Index rows = source.rows() / timesteps;
        out.resize(rows, timesteps * count);
        for (Index t = 0; t < timesteps; ++t)
            out.middleCols(t * count, count) = source.block(t * rows, start, rows, count).template cast<Scalar>();
    }

    void report(Clock::time_point now, Clock::time_point start, Clock::time_point& lastReport, double loss,
                std::int64_t firstStep, std::int64_t steps) {
        const double sinceReport = std::chrono::duration<double>(now - lastReport).count();
        const bool last = step_ == steps - 1;
        const bool live = options_.progress == ProgressStyle::live;
        const std::int64_t tenth = std::max<std::int64_t>(1, steps / 10);
        if (live ? (sinceReport < 0.1 && !last) : ((step_ + 1) % tenth != 0 && !last)) return;
        lastReport = now;
        const double elapsed = std::chrono::duration<double>(now - start).count();
        const double rate = static_cast<double>(step_ + 1 - firstStep) / std::max(elapsed, 1e-9);
        const double eta = static_cast<double>(steps - step_ - 1) / std::max(rate, 1e-9);
        char line[200];
        std::snprintf(line, sizeof line, "step %lld/%lld  loss %.6g  %.0f steps/s  ETA %s",
                      static_cast<long long>(step_ + 1), static_cast<long long>(steps), loss, rate,
                      formatSeconds(eta).c_str());
        if (live)
            std::cerr << "\r\033[K" << line << std::flush;
        else
            std::cerr << line << "\n";
    }

    std::string signalProfile() const {
        if (lastSignal_.empty()) return "";
        std::ostringstream text;
        text.precision(3);
        for (std::size_t l = 0; l < lastSignal_.size(); ++l)
            text << (l ? " " : "") << network_->layerNames()[l] << "=" << lastSignal_[l];
        return text.str();
    }

    struct Columns {
        trace::ColumnId step{}, loss{}, regLoss{}, lr{}, gradNorm{}, paramGradNorm{}, paramNorm{}, updateNorm{},
            signalGradNorm{}, activationMean{}, activationStd{}, saturation{}, gradNormClipped{}, clipped{},
            parameterClipped{}, evalStep{}, evalLoss{}, evalAccuracy{}, eventStep{}, eventKind{}, eventWhere{},
            eventTimestep{}, eventValue{}, eventMessage{};
    };

    const RunConfig& config_;
    const PluginHost& host_;
    RunOptions options_;
    data::Dataset train_, validation_;
    bool classification_ = false;
    std::unique_ptr<Network<Scalar>> network_;
    std::unique_ptr<Loss<Scalar>> loss_;
    std::shared_ptr<Optimizer<Scalar>> optimizer_;
    std::vector<Regularized> regularizers_;
    std::unique_ptr<data::Batcher<Scalar>> batcher_;
    std::unique_ptr<trace::TraceWriter> trace_;
    Columns columns_;
    std::vector<MatrixType> deltas_;
    std::vector<double> valueNormAfterUpdate_;  ///< per parameter, ||value|| after the last traced update
    std::vector<char> valueNormKnown_;          ///< per parameter, valueNormAfterUpdate_ is the current ||value||
    std::vector<double> parameterClipped_;
    std::unique_ptr<Detectors> detectors_;
    std::vector<Event> events_, firedScratch_;
    bool nonFinite_ = false;      ///< a non-finite value was found (reported once)
    bool stopRequested_ = false;  ///< a detector with action stop fired
    std::vector<double> saturation_;  ///< per layer, this traced step
    std::vector<std::pair<std::size_t, double>> timestepRatios_;
    bool tracingLayers_ = false;
    StatisticsCollector statistics_;
    std::vector<std::vector<StatisticSlot>> statisticSlots_;  ///< per layer
    std::vector<trace::Table*> statisticTables_;              ///< the /trace/<statistic> tables, in creation order
    MatrixType x_, y_, evalX_, evalY_;
    std::int64_t step_ = 0;
    double lastGradNorm_ = 0;
    std::vector<double> lastSignal_;
};

}  // namespace

std::string checkpointPath(const RunConfig& config, const std::string& outputOverride) {
    if (!config.checkpoint.path.empty()) return config.checkpoint.path;
    std::string trace = outputOverride.empty() ? config.output : outputOverride;
    const std::string suffix = ".h5";
    if (trace.size() > suffix.size() && trace.compare(trace.size() - suffix.size(), suffix.size(), suffix) == 0)
        trace.erase(trace.size() - suffix.size());
    return trace + ".ckpt.h5";
}

RunResult runTraining(const RunConfig& config, const PluginHost& host, const RunOptions& options) {
    Eigen::setNbThreads(config.training.threads);
#ifdef _OPENMP
    omp_set_num_threads(config.training.threads);
#endif
    if (config.precision == "float64") return TrainingRun<double>(config, host, options).run();
    return TrainingRun<float>(config, host, options).run();
}

}  // namespace gradlab
