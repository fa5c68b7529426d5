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
#include "data/make_dataset.hpp"
#include "data/image_data.hpp"
#include "model/loss.hpp"
#include "model/network.hpp"
#include "probe/probe_runner.hpp"
#include "trace/trace_writer.hpp"
#include "training/clipping.hpp"
#include "training/detectors.hpp"
#include "training/nonfinite.hpp"
#include "training/run_checkpoint.hpp"
#include "training/run_trace.hpp"
#include "training/norms.hpp"
#include "training/memory_budget.hpp"
#include "training/output_lock.hpp"
#include "training/schedule.hpp"
#include "util/safe_files.hpp"

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

/// Calls `make` and prefixes an Error it throws with `where` (the config file and key it comes from), unless the
/// message names the config already.
template <typename Make>
auto attributed(const std::string& where, Make make) -> decltype(make()) {
    try {
        return make();
    } catch (const ConfigError&) {
        throw;
    } catch (const Error& error) {
        const std::string message = error.what();
        const std::string file = where.substr(0, where.find(':'));
        if (!file.empty() && message.rfind(file, 0) == 0) throw;
        throw ConfigError(where + ": " + message);
    }
}

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

        checkDataFits(config);  // a refusal with the figure and the key, not std::bad_alloc
        data::Dataset dataset =
            attributed(config.data.where + ": data", [&] { return data::makeDataset(config.data, test_); });
        data::Split split = data::splitValidation(dataset, config.data.validation, config.data.seed);
        train_ = std::move(split.train);
        validation_ = std::move(split.validation);
        if (train_.inputs.cols() < 1) throw Error(config.data.where + ": no training samples left after the split");
        if (config_.training.fullBatch) config_.training.batchSize = train_.inputs.cols();
        classification_ = train_.classes > 0;

        network_ = buildNetwork<Scalar>(config, dataShape(train_), host, initRandom);
        // Per sample: each layer's output, its gradient and one more buffer of that size, over every timestep the
        // layer sees (a recurrent layer keeps its state at each input step for BPTT, even when it returns one).
        double activationBytes = 0;
        for (std::size_t l = 0; l < network_->size(); ++l) {
            const Index steps = std::max({network_->outputShape(l).timesteps,
                                          l == 0 ? train_.inputShape().timesteps : network_->outputShape(l - 1).timesteps,
                                          Index{1}});
            activationBytes += 3.0 * sizeof(Scalar) * static_cast<double>(network_->outputShape(l).features) *
                               static_cast<double>(steps);
        }
        checkActivationsFit(config_, activationBytes);
        loss_ = makeLoss<Scalar>(config.loss.kind, config.loss.fromLogits);
        // Sequence targets may mark steps without a target with NaN.
        loss_->setMasked(train_.targetTimesteps > 1 && train_.targets.hasNaN());
        // One-hot class targets (image data with targets: one_hot): mse and sse report accuracy too.
        loss_->setOneHotClasses(classification_ && train_.classes > 1 && train_.outputs() == train_.classes);

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

        probes_ = std::make_unique<ProbeRunner<Scalar>>(config_, host, *network_, *loss_, train_, validation_);

        batcher_ = attributed(config.file + ": training.batch_size", [&] {
            // A full batch is the training set in its order: every step sees the same batch, as full-batch gradient
            // descent does (a shuffled order would only reorder the sums).
            return std::make_unique<data::Batcher<Scalar>>(train_, config_.training.batchSize,
                                                           config.data.shuffle && !config_.training.fullBatch, batchSeed);
        });
        detectors_ = std::make_unique<Detectors>(config.detectors, network_->layerNames());
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
        try {
            if (options_.resume && std::filesystem::exists(result.checkpoint)) {
                firstStep = resume(result);
            } else {
                if (options_.resume)
                    result.note = "no checkpoint '" + result.checkpoint +
                                  "' (the run stopped before its first one): started from step 0";
                if (config_.trace.enabled) {
                    openTrace(std::make_unique<trace::TraceWriter>(result.output, traceHeader(),
                                                                   config_.trace.flushEvery));
                    trace_->writeTheory(host_);
                }
            }
        } catch (const std::exception& error) {
            // A trace that was opened never stays "running": it ends failed with the message, then the error goes on.
            if (trace_ && !trace_->writer().finished()) {
                try {
                    trace_->writer().finish(RunStatus::failed,
                                            std::string("before step ") + std::to_string(firstStep) + ": " + error.what(),
                                            utcNow());
                } catch (const std::exception&) {
                }
            }
            throw;
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
                    result.status = RunStatus::interrupted;
                    result.message = "interrupted by signal " + std::to_string(*options_.interrupted) + " before step " +
                                     std::to_string(step_);
                    if (config_.checkpoint.enabled) {
                        saveCheckpoint(result, step_);
                        result.message += "; resume with --resume";
                    }
                    break;
                }
                const double learningRate =
                    baseLearningRate * scheduleFactor(config_.training.schedule, step_, steps);
                if (trace_) probes_->observe(step_, /*end=*/false, learningRate, trace_->writer());
                const bool traced = config_.trace.enabled &&
                                    (step_ % config_.trace.every == 0 || step_ == steps - 1);
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
                        result.status = RunStatus::diverged;
                        for (const auto& event : events_)
                            if (event.kind == schema::eventKind::nonFinite) result.message = event.message;
                        break;
                    }
                }
                if (stopRequested_) {
                    result.status = RunStatus::stopped;
                    result.message = "stopped by the " + events_.back().kind + " detector at step " +
                                     std::to_string(step_) + ": " + events_.back().message;
                    break;
                }
                const bool evaluate = (config_.training.evalEvery > 0 && step_ % config_.training.evalEvery == 0) ||
                                      step_ == steps - 1;
                if (evaluate && trace_) {
                    evaluateAndTrace(validation_.inputs.cols() > 0 ? validation_ : train_, EvalSet::validation);
                    if (config_.data.test && (config_.data.testEveryEval || step_ == steps - 1))
                        lastTest_ = evaluateAndTrace(test_, EvalSet::test);
                }
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
            if (result.status == RunStatus::running) {
                result.status = RunStatus::completed;
                result.message = std::to_string(result.steps) + " steps";
            }
            if (trace_ && (result.status == RunStatus::completed || result.status == RunStatus::stopped)) {
                step_ = result.steps;
                const double lastRate = baseLearningRate * scheduleFactor(config_.training.schedule,
                                                                          std::max<std::int64_t>(0, result.steps - 1), steps);
                probes_->observe(result.steps, /*end=*/true, lastRate, trace_->writer());
            }
        } catch (const std::exception& error) {
            result.status = RunStatus::failed;
            result.message = "step " + std::to_string(step_) + ": " + error.what();
        }
        result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        result.probeSeconds = probes_->seconds();
        result.probeSteps = probes_->observations();
        if (options_.progress == ProgressStyle::live) std::cerr << "\r\033[K" << std::flush;
        result.signalProfile = signalProfile();
        if (trace_)
            for (const std::string& warning : trace_->warnings()) result.note += (result.note.empty() ? "" : "; ") + warning;
        result.testLoss = lastTest_.loss;
        result.testAccuracy = lastTest_.accuracy;
        result.events = events_;
        if (trace_) {
            try {
                trace_->writeModel();
            } catch (const std::exception& error) {
                result.status = RunStatus::failed;
                result.message += std::string("; cannot save the model: ") + error.what();
            }
            trace_->writer().finish(result.status, result.message, utcNow());
        }
        // A finished run needs no checkpoint; an interrupted or failed one keeps it for --resume.
        if (result.status != RunStatus::interrupted && result.status != RunStatus::failed) {
            std::error_code ignored;
            std::filesystem::remove(result.checkpoint, ignored);
        }
        return result;
    }

private:
    struct Regularized {
        std::shared_ptr<Regularizer<Scalar>> regularizer;
        std::vector<std::size_t> parameters;
    };

    /// Creates the folder of an output file and checks that a megabyte can be written there, so that an
    /// unwritable or full location fails before training rather than at the first flush or checkpoint. The probe
    /// file is created exclusively under an unpredictable name (files::probeWritable), never through a planted link.
    static void checkWritable(const std::string& path) {
        const std::filesystem::path file(path);
        const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : ".";
        std::error_code error;
        std::filesystem::create_directories(folder, error);
        if (error) throw Error("cannot create the output folder '" + folder.string() + "': " + error.message());
        const std::string reason = files::probeWritable(folder.string(), std::size_t{1} << 20);
        if (!reason.empty())
            throw Error("cannot write 1 MB in the output folder '" + folder.string() + "' (for '" + path +
                        "'): " + reason + "; free some space or choose another output");
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

    /// Hands the opened trace (new, or reopened at a checkpoint) to the run's RunTrace, which declares its tables.
    void openTrace(std::unique_ptr<trace::TraceWriter> writer) {
        trace_ = std::make_unique<RunTrace<Scalar>>(std::move(writer), config_, *network_, classification_,
                                                    options_.progress == ProgressStyle::live);
    }

    /// Writes the state after `completed` steps to the checkpoint, atomically; the trace is flushed first, so
    /// that it holds every row the checkpoint counts.
    void saveCheckpoint(const RunResult& result, std::int64_t completed) {
        if (trace_) trace_->writer().flush();
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
        if (trace_) state.traceRows = trace_->writer().tableRows();
        writer.writeState(state);
        writeModelState(writer, *network_, *optimizer_);
        writer.commit();
    }

    /// Restores the run from its checkpoint and reopens its trace at the checkpoint's step; returns that step.
    std::int64_t resume(RunResult& result) {
        const checkpoint::CheckpointReader reader(result.checkpoint);
        const checkpoint::RunState& state = reader.state();
        const std::string where = "cannot resume from '" + result.checkpoint + "': ";
        requireSameConfig(result.checkpoint, state.config, config_.resolvedYaml);
        readModelState(reader, *network_, *optimizer_, config_.optimizer.name);
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
            openTrace(std::make_unique<trace::TraceWriter>(
                result.output, trace::ResumePoint{state.step, state.traceRows}, config_.trace.flushEvery));
        }
        result.note = "resumed at step " + std::to_string(state.step) + " from '" + result.checkpoint + "'";
        return state.step;
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
            recordEvent(locateForward(*network_, step_, loss));
            nonFinite_ = true;
            if (config_.detectors.nonFiniteStops) {
                if (traced) trace_->recordNonFiniteRow(step_, loss);
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
            lastGradNorm_ =
                trace_->recordBeforeUpdate(step_, loss, penalty, learningRate, valueNormKnown_, valueNormAfterUpdate_);
            if (!std::isfinite(lastGradNorm_) && !nonFinite_) {
                recordEvent(locateBackward(*network_, step_, lastGradNorm_));
                nonFinite_ = true;
                if (config_.detectors.nonFiniteStops) {
                    trace_->commitTruncatedStep();
                    return loss;
                }
            }
        }
        if (config_.training.clip.mode != "none") {
            const ClipResult clip = clipGradients(config_.training.clip, network_->parameters(), parameterClipped_);
            if (traced) trace_->recordClip(clip, parameterClipped_);
        }
        if (config_.trace.snapshotEvery > 0 && trace_ && step_ % config_.trace.snapshotEvery == 0)
            trace_->writeSnapshot(step_);

        // Traced, the update also gives ||update|| and ||value|| afterwards in the same pass (addWithNorms); the
        // latter is the next step's ||value|| before its update, unless a projection changes the value first.
        const auto& parameters = network_->parameters();
        double* updateNorm = traced ? trace_->updateNorms() : nullptr;
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
            const double* valueNorm = trace_->valueNorms();
            for (std::size_t i = 0; i < parameters.size(); ++i) {
                if (!std::isfinite(updateNorm[i]) && !nonFinite_) {
                    recordEvent(nonFiniteUpdate(parameters[i].name, step_, updateNorm[i]));
                    nonFinite_ = true;
                }
            }
            StepMeasurements measured;
            measured.step = step_;
            measured.loss = loss;
            measured.gradNorm = lastGradNorm_;
            const double totalValue = l2NormOfNorms(valueNorm, parameters.size());
            measured.updateRatio =
                totalValue > 0 ? l2NormOfNorms(updateNorm, parameters.size()) / totalValue : NAN;
            measured.signalNorms = &trace_->signalNorms();
            measured.saturation = &trace_->saturation();
            measured.timestepRatios = &trace_->timestepRatios();
            firedScratch_.clear();
            if (detectors_->observe(measured, firedScratch_)) stopRequested_ = true;
            for (const auto& event : firedScratch_) recordEvent(event);
            trace_->commitStep();
        }
        return loss;
    }

    /// Keeps an event, writes it to /events and says it on the progress stream.
    void recordEvent(const Event& event) {
        events_.push_back(event);
        if (options_.progress != ProgressStyle::none)
            std::cerr << (options_.progress == ProgressStyle::live ? "\r\033[K" : "") << "event at step " << event.step
                      << ": " << event.kind << " (" << event.where << "): " << event.message << "\n";
        if (trace_) trace_->writeEvent(event);
    }

    /// What one evaluation measured; NaN where it has no value (accuracy of a regression).
    struct Evaluation {
        double loss = NAN;
        double accuracy = NAN;
    };

    /// Loss (and accuracy) of the network on `set`, written as one row of /eval or /test.
    Evaluation evaluateAndTrace(const data::Dataset& set, EvalSet table) {
        const Index samples = set.inputs.cols();
        const Index chunk = std::min<Index>(samples, std::max<Index>(config_.training.batchSize, 256));
        typename Loss<Scalar>::Terms total;
        double correct = 0, counted = 0;
        bool hasAccuracy = classification_;
        for (Index start = 0; start < samples; start += chunk) {
            const Index count = std::min(chunk, samples - start);
            toLayout(set.inputs, set.timesteps, start, count, evalX_);
            toLayout(set.targets, set.targetTimesteps, start, count, evalY_);
            const MatrixType& prediction = network_->forward(evalX_, Phase::eval);
            const typename Loss<Scalar>::Terms terms = loss_->terms(prediction, evalY_);
            total.sum += terms.sum;
            total.count += terms.count;
            if (hasAccuracy) {
                const double hits = loss_->correct(prediction, evalY_);
                if (hits < 0) hasAccuracy = false;
                correct += hits;
                counted += loss_->counted(prediction, evalY_);
            }
        }
        // The chunks' terms add up exactly; sse is scaled to the training batch size (Loss::overSet()).
        const double loss = loss_->overSet(total, samples, config_.training.batchSize);
        const double accuracy = hasAccuracy && counted > 0 ? correct / counted : NAN;
        trace_->writeEvaluation(table, step_, loss, accuracy);
        return {loss, classification_ ? accuracy : NAN};
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
        if (!trace_ || trace_->signalNorms().empty()) return "";
        const std::vector<double>& signal = trace_->signalNorms();
        std::ostringstream text;
        text.precision(3);
        for (std::size_t l = 0; l < signal.size(); ++l)
            text << (l ? " " : "") << network_->layerNames()[l] << "=" << signal[l];
        return text.str();
    }

    RunConfig config_;  ///< a copy: a full batch resolves its batch size from the data
    const PluginHost& host_;
    RunOptions options_;
    data::Dataset train_, validation_, test_;  ///< test_: the official test split (data.test), else empty
    Evaluation lastTest_;  ///< the last evaluation of test_
    bool classification_ = false;
    std::unique_ptr<Network<Scalar>> network_;
    std::unique_ptr<Loss<Scalar>> loss_;
    std::shared_ptr<Optimizer<Scalar>> optimizer_;
    std::vector<Regularized> regularizers_;
    std::unique_ptr<data::Batcher<Scalar>> batcher_;
    std::unique_ptr<ProbeRunner<Scalar>> probes_;
    std::unique_ptr<RunTrace<Scalar>> trace_;
    std::vector<MatrixType> deltas_;
    std::vector<double> valueNormAfterUpdate_;  ///< per parameter, ||value|| after the last traced update
    std::vector<char> valueNormKnown_;          ///< per parameter, valueNormAfterUpdate_ is the current ||value||
    std::vector<double> parameterClipped_;
    std::unique_ptr<Detectors> detectors_;
    std::vector<Event> events_, firedScratch_;
    bool nonFinite_ = false;      ///< a non-finite value was found (reported once)
    bool stopRequested_ = false;  ///< a detector with action stop fired
    bool tracingLayers_ = false;
    MatrixType x_, y_, evalX_, evalY_;
    std::int64_t step_ = 0;
    double lastGradNorm_ = 0;
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
    const OutputLock lock(config, options.output);
    Eigen::setNbThreads(config.training.threads);
#ifdef _OPENMP
    omp_set_num_threads(config.training.threads);
#endif
    if (config.precision == "float64") return TrainingRun<double>(config, host, options).run();
    return TrainingRun<float>(config, host, options).run();
}

}  // namespace gradlab
