#include "probe/probe_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>

#include "config/config_node.hpp"
#include "gradlab/probe_schema.hpp"
#include "gradlab/random.hpp"
#include "theory/dense_stack.hpp"
#include "theory/mean_field.hpp"
#include "util/suggest.hpp"

namespace gradlab {

std::string probeGroup(const std::string& probeName) { return "/probes/" + probeName; }

namespace {

/// A seed for probe `name`'s batch that no training stream shares: the run's seed mixed with the name
/// (FNV-1a), so that adding, removing or reordering probes changes no other stream.
std::uint64_t probeSeed(std::uint64_t runSeed, const std::string& name) {
    std::uint64_t hash = 0xcbf29ce484222325ull ^ (runSeed * 0x9e3779b97f4a7c15ull);
    for (unsigned char c : std::string("probe:") + name) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

/// Samples `indices` of a dataset matrix (one sequence per column, timestep-major rows) in the layers' layout
/// [rows / timesteps x (timesteps * count)], step t of sample b in column t * count + b.
template <typename Scalar>
void gatherLayout(const Eigen::MatrixXd& source, Index timesteps, const std::vector<Index>& indices,
                  Matrix<Scalar>& out) {
    const Index rows = source.rows() / timesteps;
    const Index count = static_cast<Index>(indices.size());
    out.resize(rows, timesteps * count);
    for (Index b = 0; b < count; ++b)
        for (Index t = 0; t < timesteps; ++t)
            out.col(t * count + b) = source.block(t * rows, indices[static_cast<std::size_t>(b)], rows, 1).template cast<Scalar>();
}

}  // namespace

/// The context one probe sees (gradlab/probe.hpp). The runner guards training state around a probe step; the
/// context does the rest: its own copy of the input it ran forward on, its own input gradient, checks.
template <typename Scalar>
class HostProbeContext final : public ProbeContext<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;

    HostProbeContext(const ProbeConfig& probe, const RunConfig& config, Network<Scalar>& network, Loss<Scalar>& loss,
                     const data::Dataset& source, const MeanFieldView& meanField)
        : probe_(probe), network_(network), loss_(loss), meanField_(meanField), totalSteps_(config.training.steps) {
        const std::string where = probe.spec.where + ": probe '" + probe.name + "'";
        batchSize_ = probe.fullBatch ? source.samples() : probe.batch;
        if (source.samples() < batchSize_ || batchSize_ == 0)
            throw ConfigError(where + ": batch " + std::to_string(batchSize_) + " is larger than the " +
                              (probe.from == ProbeSource::eval ? "validation" : "training") + " data (" +
                              std::to_string(source.samples()) + " samples)");
        // Without replacement, by a partial Fisher-Yates shuffle of a stream no training code draws from;
        // `batch: all` takes the whole source in its order (the batch of full-batch training).
        std::vector<Index> order(static_cast<std::size_t>(source.samples()));
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Index>(i);
        if (!probe.fullBatch) {
            Random random(probeSeed(config.seed, probe.name));
            for (std::size_t i = 0; i < static_cast<std::size_t>(batchSize_); ++i) {
                const std::size_t j = i + static_cast<std::size_t>(random.below(order.size() - i));
                std::swap(order[i], order[j]);
            }
            order.resize(static_cast<std::size_t>(batchSize_));
        }
        gatherLayout(source.inputs, source.timesteps, order, batch_);
        gatherLayout(source.targets, source.targetTimesteps, order, targets_);

        Shape input = source.inputShape();
        inputShape_ = input;
        std::size_t firstParameter = 0;
        for (std::size_t l = 0; l < network.size(); ++l) {
            // keepStateGradients({}) keeps nothing; its answer says whether the layer has a state across time.
            const bool recurrent = network.layer(l).keepStateGradients({});
            std::vector<NamedParameter<Scalar>> own;
            network.layer(l).collectParameters("", own);
            layers_.push_back({network.layerNames()[l], network.layerKinds()[l], input, network.outputShape(l), recurrent,
                               firstParameter, own.size()});
            firstParameter += own.size();
            input = network.outputShape(l);
        }
        const auto& names = network.layerNames();
        const auto layerNamed = [&](const std::string& key, const std::string& name) {
            const auto found = std::find(names.begin(), names.end(), name);
            if (found == names.end())
                throw ConfigError(where + ": " + key + ": no layer '" + name + "'" + suggestionSuffix(name, names));
            return static_cast<std::size_t>(found - names.begin());
        };
        toLayer_ = probe.toLayer.empty() ? layers_.size() - 1 : layerNamed("to", probe.toLayer);
        for (const std::string& name : probe.fromLayers) {
            fromLayers_.push_back(layerNamed("from", name));
            if (fromLayers_.back() >= toLayer_)
                throw ConfigError(where + ": from: layer '" + name + "' is not below the layer the probe ends at ('" +
                                  names[toLayer_] + "', to:)");
        }
        for (std::int64_t t : probe.timesteps) timesteps_.push_back(static_cast<Index>(t));
        if (!timesteps_.empty()) {
            bool anyRecurrent = false;
            for (const LayerInfo& layer : layers_) {
                if (!layer.recurrent) continue;
                anyRecurrent = true;
                for (Index t : timesteps_)
                    if (t >= layer.input.timesteps)
                        throw ConfigError(where + ": timesteps: " + std::to_string(t) + " is past the last step of " +
                                          layer.name + " (" + std::to_string(layer.input.timesteps) + " timesteps: 0 .. " +
                                          std::to_string(layer.input.timesteps - 1) + ")");
            }
            if (!anyRecurrent)
                throw ConfigError(where + ": timesteps: the network has no recurrent layer (rnn, lstm, gru) whose state "
                                  "they could index");
        }
        for (const auto& parameter : network.parameters()) names_.push_back(parameter.name);
    }

    /// Starts a probe step: `trainingGradients` hold the training gradients (swapped out by the runner).
    void begin(std::int64_t step, double learningRate, trace::TraceWriter& writer,
               const std::vector<MatrixType>& trainingGradients) {
        step_ = step;
        learningRate_ = learningRate;
        writer_ = &writer;
        trainingGradients_ = &trainingGradients;
        forwardDone_ = false;
        backwardDone_ = false;
        if (tables_.empty()) tableAt("");  // /probes/<name>/step, even for a probe that writes nothing
        for (TableSlot& slot : tables_) slot.table->setInteger(slot.step, step);
    }

    /// Ends a probe step: commits its row of every table of the probe.
    void end() {
        for (TableSlot& slot : tables_) slot.table->commit();
        writer_ = nullptr;
        trainingGradients_ = nullptr;
        firstStepDone_ = true;
    }

    std::int64_t step() const override { return step_; }
    std::int64_t totalSteps() const override { return totalSteps_; }
    const std::vector<LayerInfo>& layers() const override { return layers_; }
    Shape inputShape() const override { return inputShape_; }
    const std::vector<std::size_t>& fromLayers() const override { return fromLayers_; }
    std::size_t toLayer() const override { return toLayer_; }
    const std::vector<Index>& timesteps() const override { return timesteps_; }
    std::size_t parameterCount() const override { return names_.size(); }
    const std::string& parameterName(std::size_t i) const override { return names_.at(i); }
    const MatrixType& parameterValue(std::size_t i) const override {
        checkParameter(i);
        return network_.parameters()[i].parameter->value;
    }
    const MatrixType& parameterGradient(std::size_t i) const override {
        checkParameter(i);
        return (*trainingGradients_)[i];
    }
    const MatrixType& layerParameter(std::size_t layer, const std::string& name) const override {
        checkLayer(layer, "layerParameter");
        return network_.layer(layer).param(name).value;
    }
    const MeanFieldView& meanField() const override { return meanField_; }
    const MatrixType& batch() const override { return batch_; }
    const MatrixType& batchTargets() const override { return targets_; }
    Index batchSize() const override { return batchSize_; }
    double learningRate() const override { return learningRate_; }

    const MatrixType& forward(const MatrixType& x, Phase phase) override {
        if (x.rows() != inputShape_.features || x.cols() == 0 || x.cols() % inputShape_.timesteps != 0)
            throw Error("probe '" + probe_.name + "': forward input must be [" + std::to_string(inputShape_.features) +
                        " x (" + std::to_string(inputShape_.timesteps) + " * B)], got [" + std::to_string(x.rows()) +
                        " x " + std::to_string(x.cols()) + "]");
        input_ = x;  // kept: backward needs it, and the caller's x may not outlive this call
        forwardDone_ = true;
        return network_.forward(input_, phase);
    }
    const MatrixType& layerInput(std::size_t layer) const override {
        checkLayer(layer, "layerInput");
        requireForward("layerInput");
        return layer == 0 ? input_ : network_.output(layer - 1);
    }
    const MatrixType& layerOutput(std::size_t layer) const override {
        checkLayer(layer, "layerOutput");
        requireForward("layerOutput");
        return network_.output(layer);
    }

    const MatrixType& backward(const MatrixType& upstream, std::size_t top) override {
        return runBackward(upstream, top, true);
    }
    const MatrixType& backwardSignal(const MatrixType& upstream, std::size_t top) override {
        return runBackward(upstream, top, false);
    }
    const MatrixType& signal(std::size_t layer) const override {
        checkLayer(layer, "signal");
        if (layer > backwardTop_)
            throw Error("probe '" + probe_.name + "': signal(" + std::to_string(layer) + ") above the last backward's top " +
                        std::to_string(backwardTop_));
        return network_.signal(layer);
    }
    const MatrixType& stateGradient(std::size_t layer, std::size_t k) const override {
        checkLayer(layer, "stateGradient");
        if (!layers_[layer].recurrent)
            throw Error("probe '" + probe_.name + "': stateGradient: " + layers_[layer].name +
                        " has no state across timesteps (not rnn, lstm or gru)");
        if (k >= timesteps_.size())
            throw Error("probe '" + probe_.name + "': stateGradient(" + std::to_string(layer) + ", " + std::to_string(k) +
                        "): the probe has " + std::to_string(timesteps_.size()) + " timesteps (timesteps: [...])");
        if (layer > backwardTop_ || !backwardDone_)
            throw Error("probe '" + probe_.name + "': stateGradient(" + std::to_string(layer) +
                        ") needs a backward whose top is at or above it");
        return network_.layer(layer).keptStateGradient(k);
    }
    const MatrixType& scratchGradient(std::size_t i) const override {
        checkParameter(i);
        return network_.parameters()[i].parameter->grad;
    }

    double lossGradient(const MatrixType& x, const MatrixType& targets, Phase phase) override {
        const MatrixType& prediction = forward(x, phase);
        const double value = loss_.evaluate(prediction, targets, lossGradient_);
        backward(lossGradient_, layers_.size() - 1);
        return value;
    }

    const MatrixType& sampleLossGradients(const MatrixType& targets) override {
        requireForward("sampleLossGradients");
        const MatrixType& prediction = network_.output(layers_.size() - 1);
        const Index outputSteps = network_.outputShape().timesteps;
        const Index samples = prediction.cols() / outputSteps;
        const Index targetSteps = targets.cols() / samples;
        if (targets.cols() != targetSteps * samples || targetSteps < 1)
            throw Error("probe '" + probe_.name + "': sampleLossGradients: targets of " + std::to_string(targets.cols()) +
                        " columns for " + std::to_string(samples) + " samples");
        sampleGradients_.resize(prediction.rows(), prediction.cols());
        samplePrediction_.resize(prediction.rows(), outputSteps);
        sampleTargets_.resize(targets.rows(), targetSteps);
        for (Index i = 0; i < samples; ++i) {
            for (Index t = 0; t < outputSteps; ++t) samplePrediction_.col(t) = prediction.col(t * samples + i);
            for (Index t = 0; t < targetSteps; ++t) sampleTargets_.col(t) = targets.col(t * samples + i);
            loss_.evaluate(samplePrediction_, sampleTargets_, sampleGradient_);
            for (Index t = 0; t < outputSteps; ++t) sampleGradients_.col(t * samples + i) = sampleGradient_.col(t);
        }
        return sampleGradients_;
    }
    bool couplesSamples(std::size_t layer, Phase phase) const override {
        checkLayer(layer, "couplesSamples");
        return network_.layer(layer).couplesSamples(phase);
    }
    bool sampleGradientFactors(std::size_t layer, std::vector<SampleGradientFactor<Scalar>>& factors) const override {
        checkLayer(layer, "sampleGradientFactors");
        if (!backwardDone_ || !parameterBackward_ || layer > backwardTop_ || forwardDone_)
            throw Error("probe '" + probe_.name + "': sampleGradientFactors(" + std::to_string(layer) +
                        ") needs a backward() with parameter gradients whose top is at or above it, and no forward since");
        if (!network_.layer(layer).sampleGradientFactors(layerInput(layer), network_.signal(layer), factors)) return false;
        if (factors.size() != layers_[layer].parameterCount)
            throw Error("probe '" + probe_.name + "': " + layers_[layer].name + " gave " + std::to_string(factors.size()) +
                        " sample gradient factors for its " + std::to_string(layers_[layer].parameterCount) +
                        " parameters");
        return true;
    }

    MatrixType& perturbableValue(std::size_t i) override {
        checkParameter(i);
        if (!perturbing_)
            throw Error("probe '" + probe_.name + "': parameter '" + names_[i] +
                        "' changed outside a ScopedPerturbation (which restores it)");
        return network_.parameters()[i].parameter->value;
    }

    void write(const std::string& table, const std::vector<Index>& cellShape, const double* values) override {
        if (writer_ == nullptr) throw Error("probe '" + probe_.name + "': write() outside observe()");
        const std::size_t slash = table.rfind('/');
        const std::string subgroup = slash == std::string::npos ? "" : table.substr(0, slash);
        const std::string name = slash == std::string::npos ? table : table.substr(slash + 1);
        checkName(table, name);
        if (name == probeSchema::stepColumn)
            throw Error("probe '" + probe_.name + "': table '" + table + "': the column '" + probeSchema::stepColumn +
                        "' is the host's (it holds the probe step of each row)");
        TableSlot& slot = tableAt(subgroup);
        ColumnSlot* column = nullptr;
        for (ColumnSlot& candidate : columns_)
            if (candidate.table == slot.table && candidate.name == name) column = &candidate;
        if (column == nullptr) {
            if (firstStepDone_)
                throw Error("probe '" + probe_.name + "': table '" + table + "' first written after the probe's first "
                            "step; write every table at every step (NaN where there is no value)");
            columns_.push_back({slot.table, name, slot.table->addArrayColumn(name, cellShape)});
            column = &columns_.back();
        }
        if (slot.table->cellShape(column->id) != cellShape)
            throw Error("probe '" + probe_.name + "': table '" + table + "' written with another cell shape than at its "
                        "first step");
        Index count = 1;
        for (Index extent : cellShape) count *= extent;
        std::copy_n(values, count, slot.table->row(column->id));
    }

    void setAttribute(const std::string& group, const std::string& key, double value) override {
        if (writer_ == nullptr) throw Error("probe '" + probe_.name + "': setAttribute() outside observe()");
        writer_->setGroupAttribute(subgroup(group), key, value);
    }
    void setAttribute(const std::string& group, const std::string& key, const std::string& value) override {
        if (writer_ == nullptr) throw Error("probe '" + probe_.name + "': setAttribute() outside observe()");
        writer_->setGroupAttribute(subgroup(group), key, value);
    }

protected:
    void beginPerturbation() override {
        if (perturbing_) throw Error("probe '" + probe_.name + "': a ScopedPerturbation is already alive");
        const auto& parameters = network_.parameters();
        savedValues_.resize(parameters.size());
        for (std::size_t i = 0; i < parameters.size(); ++i) savedValues_[i] = parameters[i].parameter->value;
        perturbing_ = true;
    }
    void endPerturbation() noexcept override {
        const auto& parameters = network_.parameters();
        for (std::size_t i = 0; i < parameters.size(); ++i) parameters[i].parameter->value = savedValues_[i];
        perturbing_ = false;
    }

private:
    /// backward() and backwardSignal(): `parameterGradients` false lets layers skip their parameter gradients.
    const MatrixType& runBackward(const MatrixType& upstream, std::size_t top, bool parameterGradients) {
        checkLayer(top, "backward");
        requireForward("backward");
        const MatrixType& output = network_.output(top);
        if (upstream.rows() != output.rows() || upstream.cols() != output.cols())
            throw Error("probe '" + probe_.name + "': backward at " + layers_[top].name + " needs an upstream [" +
                        std::to_string(output.rows()) + " x " + std::to_string(output.cols()) + "], got [" +
                        std::to_string(upstream.rows()) + " x " + std::to_string(upstream.cols()) + "]");
        network_.signalBuffer(top) = upstream;
        if (parameterGradients) network_.zeroGradients();  // the scratch gradients (the training ones are swapped out)
        // For this backward only: recurrent layers keep dL/dh_t of the asked steps (training's never do), and
        // without parameter gradients layers may skip them.
        const auto configure = [&](bool on) {
            for (std::size_t l = 0; l <= top; ++l) {
                if (!parameterGradients) network_.layer(l).setParameterGradientsWanted(!on);
                if (layers_[l].recurrent && !timesteps_.empty())
                    network_.layer(l).keepStateGradients(on ? timesteps_ : std::vector<Index>{});
            }
        };
        configure(true);
        try {
            network_.backwardFrom(top, input_, &inputGradient_, false);
        } catch (...) {
            configure(false);
            throw;
        }
        configure(false);
        backwardTop_ = top;
        backwardDone_ = true;
        parameterBackward_ = parameterGradients;
        forwardDone_ = false;  // one backward per forward (the layer contract)
        return inputGradient_;
    }
    void checkParameter(std::size_t i) const {
        if (i >= names_.size())
            throw Error("probe '" + probe_.name + "': parameter " + std::to_string(i) + " out of range (" +
                        std::to_string(names_.size()) + " parameters)");
    }
    void checkLayer(std::size_t layer, const char* what) const {
        if (layer >= layers_.size())
            throw Error("probe '" + probe_.name + "': " + what + "(" + std::to_string(layer) + "): layer out of range (" +
                        std::to_string(layers_.size()) + " layers)");
    }
    /// Layer inputs and outputs need some forward; a backward needs one of its own (the layer contract).
    void requireForward(const char* what) const {
        const bool backward = std::string(what) == "backward";
        if (backward ? !forwardDone_ : input_.size() == 0)
            throw Error(std::string("probe '") + probe_.name + "': " + what + "() needs a forward() first" +
                        (backward ? " (one backward per forward)" : ""));
    }
    std::string subgroup(const std::string& group) const {
        if (group.empty()) return probeGroup(probe_.name);  // the probe's own group
        checkName(group, group);
        return probeGroup(probe_.name) + "/" + group;
    }
    /// Refuses a table path with an empty, "." or ".." part (HDF5 could not hold it as written).
    void checkName(const std::string& path, const std::string& last) const {
        bool bad = last.empty() || path.front() == '/' || path.find("//") != std::string::npos;
        for (std::size_t start = 0; !bad && start <= path.size();) {
            const std::size_t stop = std::min(path.find('/', start), path.size());
            const std::string part = path.substr(start, stop - start);
            bad = part.empty() || part == "." || part == "..";
            start = stop + 1;
        }
        if (bad)
            throw Error("probe '" + probe_.name + "': invalid table name '" + path +
                        "' (names like 'max' or 'from/layers.2.dense/max', no empty, '.' or '..' parts)");
    }
    /// The table of /probes/<name>/<subgroup> ("" : /probes/<name>), created with its step column on first use.
    struct TableSlot {
        std::string subgroup;
        trace::Table* table = nullptr;  ///< owned by the writer
        trace::ColumnId step{};
    };
    TableSlot& tableAt(const std::string& subgroup) {
        for (TableSlot& slot : tables_)
            if (slot.subgroup == subgroup) return slot;
        if (firstStepDone_)
            throw Error("probe '" + probe_.name + "': table group '" + subgroup + "' first written after the probe's "
                        "first step; write every table at every step (NaN where there is no value)");
        trace::Table& table = writer_->table(subgroup.empty() ? probeGroup(probe_.name)
                                                              : probeGroup(probe_.name) + "/" + subgroup);
        tables_.push_back({subgroup, &table, table.addColumn(probeSchema::stepColumn, 0, trace::ColumnType::int64)});
        table.setInteger(tables_.back().step, step_);
        return tables_.back();
    }
    struct ColumnSlot {
        trace::Table* table = nullptr;
        std::string name;
        trace::ColumnId id{};
    };

    const ProbeConfig probe_;  ///< a copy: the runner's entries move
    Network<Scalar>& network_;
    Loss<Scalar>& loss_;
    const MeanFieldView& meanField_;
    std::int64_t totalSteps_ = 0;
    std::int64_t step_ = 0;
    double learningRate_ = 0;
    Index batchSize_ = 0;
    std::vector<LayerInfo> layers_;
    Shape inputShape_;
    std::vector<std::size_t> fromLayers_;
    std::size_t toLayer_ = 0;
    std::vector<Index> timesteps_;
    std::vector<std::string> names_;
    MatrixType batch_, targets_, input_, inputGradient_, lossGradient_;
    std::vector<MatrixType> savedValues_;
    bool perturbing_ = false;
    bool forwardDone_ = false;
    std::size_t backwardTop_ = 0;
    bool backwardDone_ = false;  ///< some backward ran this probe step (stateGradient's precondition)
    bool parameterBackward_ = false;  ///< the last backward computed parameter gradients (not backwardSignal)
    MatrixType sampleGradients_, samplePrediction_, sampleTargets_, sampleGradient_;  ///< sampleLossGradients
    trace::TraceWriter* writer_ = nullptr;
    const std::vector<MatrixType>* trainingGradients_ = nullptr;
    bool firstStepDone_ = false;  ///< a probe step of this process ended: its tables are all declared
    std::vector<TableSlot> tables_;
    std::vector<ColumnSlot> columns_;
};

template <typename Scalar>
MeanFieldView meanFieldView(const RunConfig& config, Network<Scalar>& network, const PluginHost& host) {
    MeanFieldView view;
    const theory::DenseStack stack = theory::scanDenseStack(config.layers, network.layerNames());
    view.activationLayers = static_cast<std::int64_t>(stack.activationLayers);
    if (!stack.note.empty()) {
        view.note = stack.note;
        return view;
    }
    const std::vector<std::size_t>& dense = stack.dense;
    const PluginSpec* activation = stack.activation;
    view.denseLayers = static_cast<std::int64_t>(dense.size());
    if (activation == nullptr) {
        view.note = "the model has no activation (a linear network)";
        return view;
    }
    if (dense.empty()) {
        view.note = "no dense layer";
        return view;
    }
    view.activation = activation->name;
    view.squareLayers = true;
    for (std::size_t l : dense) {
        const auto& weight = network.layer(l).param("W").value;
        if (weight.rows() != weight.cols()) view.squareLayers = false;
    }
    // Every dense layer sets sigma_w^2 and sigma_b^2 (the Jacobian is their product; /theory takes the hidden
    // ones only, for the gradient's decay between them).
    view.width = network.layer(dense.front()).param("W").value.rows();
    const theory::Variances variances = theory::measuredVariances(network, config.layers, dense);
    view.sigmaW2 = variances.sigmaW2;
    view.sigmaB2 = variances.sigmaB2;
    // applyInitOverrides put a config's `init: {W: ...}` here, so this is the initializer that ran.
    view.weightInit = network.layer(dense.front()).param("W").init.initializer.kind;
    for (std::size_t l : dense)
        if (network.layer(l).param("W").init.initializer.kind != view.weightInit) view.weightInit = "mixed";
    if (!std::isfinite(view.sigmaW2) || !std::isfinite(view.sigmaB2)) {
        view.note = "the initial weights' variance is not finite";
        return view;
    }
    auto function = host.makeActivation<double>(*activation);
    function->build(1);
    Random random(0);
    std::vector<NamedParameter<double>> parameters;
    function->collectParameters("", parameters);
    for (auto& parameter : parameters) initializeParameter(*parameter.parameter, host, random);
    const theory::MeanFieldPrediction prediction = theory::meanField(
        [&](double x) { return function->value(x); }, [&](double x) { return function->slope(x); }, view.sigmaW2,
        view.sigmaB2);
    // mu_k = E[phi'(sqrt(q) z)^(2k)]; for a positively homogeneous phi (relu, leaky_relu) it does not depend on q,
    // and neither does the Jacobian's spectrum on the inputs' scale: then no fixed point is needed.
    const auto moment = [&](int power, double q) {
        const double root = std::sqrt(std::max(0.0, q));
        const double panel = std::min(0.5, root > 0 ? 1.0 / root : 0.5);
        return theory::gaussianExpectation(
            [&](double z) { return std::pow(function->slope(root * z), 2.0 * power); }, 0.0, panel);
    };
    const bool scaleFree = std::abs(moment(1, 1.0) - moment(1, 4.0)) <= 1e-12 * std::abs(moment(1, 1.0)) &&
                           std::abs(moment(2, 1.0) - moment(2, 4.0)) <= 1e-12 * std::abs(moment(2, 1.0)) &&
                           view.sigmaB2 == 0;
    if (!prediction.converged && !scaleFree) {
        view.note = prediction.note;
        return view;
    }
    view.qStar = prediction.converged ? prediction.qStar : std::numeric_limits<double>::quiet_NaN();
    const double q = prediction.converged ? prediction.qStar : 1.0;
    view.mu1 = moment(1, q);
    view.mu2 = moment(2, q);
    view.chi1 = view.sigmaW2 * view.mu1;
    view.applies = true;
    view.note = std::string("sigma_w^2 and sigma_b^2 measured on every initialised dense layer") +
                (scaleFree ? "; phi' is scale-free (mu_k do not depend on q), so any input scale is at the fixed point"
                           : "");
    return view;
}

template <typename Scalar>
ProbeRunner<Scalar>::ProbeRunner(const RunConfig& config, const PluginHost& host, Network<Scalar>& network,
                                 Loss<Scalar>& loss, const data::Dataset& train, const data::Dataset& validation)
    : config_(config), network_(network) {
    if (config.probes.empty()) return;
    try {
        meanField_ = meanFieldView(config, network, host);
    } catch (const std::exception& error) {
        meanField_ = MeanFieldView{};
        meanField_.note = std::string("the mean-field computation failed: ") + error.what();
    }
    for (const ProbeConfig& probe : config.probes) {
        if (probe.from == ProbeSource::eval && validation.samples() == 0)
            throw ConfigError(probe.spec.where + ": probe '" + probe.name +
                              "': from: eval needs validation data (data.validation > 0)");
        Entry entry;
        entry.config = probe;
        entry.probe = host.makeProbe<Scalar>(probe.spec);
        entry.context = std::make_unique<HostProbeContext<Scalar>>(
            entry.config, config, network, loss, probe.from == ProbeSource::eval ? validation : train, meanField_);
        probes_.push_back(std::move(entry));
    }
    std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;
    for (std::size_t l = 0; l < network.size(); ++l) network.layer(l).collectBuffers("", buffers);
    for (auto& buffer : buffers) buffers_.push_back(buffer.second);
    savedBuffers_.resize(buffers_.size());
    trainingGradients_.resize(network.parameters().size());
}

template <typename Scalar>
ProbeRunner<Scalar>::~ProbeRunner() = default;

template <typename Scalar>
void ProbeRunner<Scalar>::observe(std::int64_t step, bool end, double learningRate, trace::TraceWriter& writer) {
    bool any = false;
    for (const Entry& entry : probes_) any = any || entry.config.runsAt(step, end);
    if (!any) return;
    const auto start = std::chrono::steady_clock::now();

    // Guards what a probe's passes could change, and restores it however the probe step ends.
    struct Guard {
        ProbeRunner& runner;
        std::vector<char> tracing;
        explicit Guard(ProbeRunner& owner) : runner(owner) {
            Network<Scalar>& network = runner.network_;
            for (std::size_t l = 0; l < network.size(); ++l) {
                tracing.push_back(network.layer(l).tracing() ? 1 : 0);
                network.layer(l).setTracing(false);  // no layer statistics, no power-iteration warm starts
            }
            for (std::size_t b = 0; b < runner.buffers_.size(); ++b) runner.savedBuffers_[b] = runner.buffers_[b]->value;
            const auto& parameters = network.parameters();
            for (std::size_t i = 0; i < parameters.size(); ++i) {
                if (runner.trainingGradients_[i].rows() != parameters[i].parameter->grad.rows() ||
                    runner.trainingGradients_[i].cols() != parameters[i].parameter->grad.cols())
                    runner.trainingGradients_[i].setZero(parameters[i].parameter->grad.rows(),
                                                         parameters[i].parameter->grad.cols());
                parameters[i].parameter->grad.swap(runner.trainingGradients_[i]);  // O(1): pointers only
            }
        }
        ~Guard() {
            Network<Scalar>& network = runner.network_;
            const auto& parameters = network.parameters();
            for (std::size_t i = 0; i < parameters.size(); ++i)
                parameters[i].parameter->grad.swap(runner.trainingGradients_[i]);
            for (std::size_t b = 0; b < runner.buffers_.size(); ++b) runner.buffers_[b]->value = runner.savedBuffers_[b];
            for (std::size_t l = 0; l < network.size(); ++l) network.layer(l).setTracing(tracing[l] != 0);
        }
    };
    {
        Guard guard(*this);
        for (Entry& entry : probes_) {
            if (!entry.config.runsAt(step, end)) continue;
            entry.context->begin(step, learningRate, writer, trainingGradients_);
            try {
                entry.probe->observe(*entry.context);
            } catch (const std::exception& error) {
                throw Error("probe '" + entry.config.name + "' at step " + std::to_string(step) + ": " + error.what());
            }
            entry.context->end();
        }
    }
    writer.flushIfDue();
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++observations_;
}

#define GRADLAB_INSTANTIATE_PROBES(Scalar)                                                                    \
    template class ProbeRunner<Scalar>;                                                                      \
    template MeanFieldView meanFieldView<Scalar>(const RunConfig&, Network<Scalar>&, const PluginHost&);
GRADLAB_INSTANTIATE_PROBES(float)
GRADLAB_INSTANTIATE_PROBES(double)
#undef GRADLAB_INSTANTIATE_PROBES

}  // namespace gradlab
