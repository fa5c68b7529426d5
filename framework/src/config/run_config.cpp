#include "config/run_config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "config/plugin_spec_reader.hpp"
#include "data/fashion_mnist.hpp"
#include "util/suggest.hpp"

namespace gradlab {
namespace {

constexpr std::int64_t maxInt = std::numeric_limits<std::int64_t>::max();
constexpr double unbounded = std::numeric_limits<double>::infinity();

/// A path from the config, resolved against the config's folder.
std::string configPath(const ConfigNode& node, const ConfigNode& data) {
    const std::filesystem::path path(node.asString());
    return path.is_absolute()
               ? path.string()
               : (std::filesystem::path(data.source()->file).parent_path() / path).lexically_normal().string();
}

/// The keys of `kind: idx` and `kind: fashion_mnist` (docs/config-reference.md, "Image data").
void readImageData(MapReader& reader, const ConfigNode& node, std::uint64_t runSeed, DataConfig& data) {
    data::ImageSource& source = data.images;
    source.kind = data.kind;
    if (data.kind == "idx") {
        source.images = configPath(reader.required("images"), node);
        source.labels = configPath(reader.required("labels"), node);
        reader.resolve("images", YAML::Node(source.images));
        reader.resolve("labels", YAML::Node(source.labels));
        const bool hasTestImages = reader.has("test_images"), hasTestLabels = reader.has("test_labels");
        if (hasTestImages != hasTestLabels)
            reader.optional(hasTestImages ? "test_images" : "test_labels")
                .fail("give both test_images and test_labels, or neither");
        if (hasTestImages) {
            source.testImages = configPath(reader.required("test_images"), node);
            source.testLabels = configPath(reader.required("test_labels"), node);
            reader.resolve("test_images", YAML::Node(source.testImages));
            reader.resolve("test_labels", YAML::Node(source.testLabels));
        }
    } else {
        source.folder = reader.has("dir") ? configPath(reader.required("dir"), node) : data::fashionMnistFolder;
        reader.resolve("dir", YAML::Node(source.folder));
    }
    data::ImagePreparation& preparation = data.preparation;
    const std::string normalize = reader.choice("normalize", "unit", {"none", "unit", "standard"});
    preparation.normalize = normalize == "none"   ? data::PixelScaling::none
                            : normalize == "unit" ? data::PixelScaling::unit
                                                  : data::PixelScaling::standard;
    preparation.subset = reader.integer("subset", 0, 0, maxInt);
    preparation.balancedSubset = reader.boolean("subset_balanced", false);
    preparation.subsetSeed =
        static_cast<std::uint64_t>(reader.integer("subset_seed", static_cast<std::int64_t>(runSeed), 0, maxInt));
    const std::string view = reader.choice("view", "flat", {"flat", "rows", "pixels", "permuted_pixels"});
    preparation.view = view == "flat"     ? data::ImageView::flat
                       : view == "rows"   ? data::ImageView::rows
                       : view == "pixels" ? data::ImageView::pixels
                                          : data::ImageView::permutedPixels;
    preparation.permutationSeed = static_cast<std::uint64_t>(reader.integer("permutation_seed", 0, 0, maxInt));
    preparation.oneHotTargets = reader.choice("targets", "classes", {"classes", "one_hot"}) == "one_hot";
    data.test = reader.boolean("test", false);
    data.testEveryEval = reader.boolean("test_every_eval", false);
    if (data.testEveryEval && !data.test)
        reader.optional("test_every_eval").fail("test_every_eval: true needs test: true");
    if (data.kind == "idx" && data.test && source.testImages.empty())
        reader.optional("test").fail("test: true needs the test files: give test_images and test_labels");
    data.classification = true;
    // Fashion-MNIST's training set has 60,000 images: training.epochs can be counted before the files are read.
    if (data.kind == "fashion_mnist") data.samples = preparation.subset > 0 ? preparation.subset : 60000;
    else if (preparation.subset > 0) data.samples = preparation.subset;
}

/// With `header` left to its default (true), a CSV whose first row is all numbers would silently lose its first
/// sample to column names: refuse it and ask for `header: false` (or an explicit `header: true`). A file that
/// cannot be read is left to the data loader, which names it.
void refuseNumericHeader(const ConfigNode& fileNode, const std::string& path) {
    // Only a regular file is looked into: opening a FIFO would block, and the loader refuses it by name.
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) return;
    std::ifstream stream(path);
    std::string line;
    while (std::getline(stream, line) && line.find_first_not_of(" \t\r") == std::string::npos) {
    }
    if (!stream && line.empty()) return;
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    for (std::string& field : fields) {
        const std::size_t first = field.find_first_not_of(" \t\r\"");
        const std::size_t last = field.find_last_not_of(" \t\r\"");
        field = first == std::string::npos ? std::string() : field.substr(first, last - first + 1);
        char* end = nullptr;
        std::strtod(field.c_str(), &end);
        if (field.empty() || *end != '\0') return;  // a name: a real header
    }
    if (fields.empty()) return;
    fileNode.fail(path + ": the first row (" + line.substr(0, 60) + (line.size() > 60 ? "..." : "") +
                  ") is all numbers, so it looks like data, not column names; say 'header: false' to read it as "
                  "data, or 'header: true' to drop it as a header");
}

DataConfig readData(const ConfigNode& node, std::uint64_t runSeed, YAML::Node resolved) {
    MapReader reader(node, resolved, "the data section");
    DataConfig data;
    data.where = node.where();
    data.kind = reader.choice("kind", "random_regression",
                              {"random_regression", "teacher", "spirals", "csv", "hdf5", "adding_sum", "adding_mean",
                               "copy_memory", "temporal_order", "noisy_sine", "hdf5_sequences", "idx", "fashion_mnist"});
    const bool sequenceTask = data.kind == "adding_sum" || data.kind == "adding_mean" || data.kind == "copy_memory" ||
                              data.kind == "temporal_order" || data.kind == "noisy_sine";
    if (sequenceTask) {
        data.samples = reader.requiredInteger("samples", 1, maxInt);
        data.timesteps = reader.requiredInteger("timesteps", data.kind == "copy_memory" ? 1 : 2, 1000000);
        if (data.kind == "noisy_sine") data.noise = reader.real("noise", 0.1, 0.0, unbounded);
        data.classification = data.kind == "copy_memory" || data.kind == "temporal_order";
    } else if (data.kind == "random_regression" || data.kind == "teacher") {
        data.samples = reader.requiredInteger("samples", 1, maxInt);
        data.inputs = reader.requiredInteger("inputs", 1, maxInt);
        data.outputs = reader.requiredInteger("outputs", 1, maxInt);
        // Only when given: the resolved config of every random_regression run before the key stays as it was.
        if (data.kind == "random_regression" && reader.has("input_std"))
            data.inputStd = reader.real("input_std", 1.0, std::numeric_limits<double>::min(), unbounded);
        if (data.kind == "teacher") {
            ConfigNode hidden = reader.optional("hidden");
            YAML::Node resolvedHidden(YAML::NodeType::Sequence);
            if (hidden.yaml().IsDefined())
                for (const auto& item : hidden.items()) {
                    const std::int64_t width = item.asInteger();
                    if (width < 1) item.fail("expected a width >= 1, got " + std::to_string(width));
                    data.hidden.push_back(width);
                    resolvedHidden.push_back(width);
                }
            else
                data.hidden = {32}, resolvedHidden.push_back(32);
            reader.resolve("hidden", resolvedHidden);
            data.noise = reader.real("noise", 0.0, 0.0, unbounded);
        }
    } else if (data.kind == "spirals") {
        data.samples = reader.requiredInteger("samples", 2, maxInt);
        data.classes = reader.integer("classes", 3, 2, 1000);
        data.noise = reader.real("noise", 0.2, 0.0, unbounded);
        data.inputs = 2;
        data.outputs = data.classes;
        data.classification = true;
    } else if (data.kind == "idx" || data.kind == "fashion_mnist") {
        readImageData(reader, node, runSeed, data);
    } else {
        ConfigNode file = reader.required("file");
        const std::filesystem::path path(file.asString());
        data.file = path.is_absolute() ? path.string()
                                       : (std::filesystem::path(node.source()->file).parent_path() / path)
                                             .lexically_normal()
                                             .string();
        reader.resolve("file", YAML::Node(data.file));
        data.classification = reader.boolean("classification", false);
        if (data.kind == "csv") {
            const bool headerGiven = reader.has("header");
            data.header = reader.boolean("header", true);
            if (!headerGiven) refuseNumericHeader(file, data.file);
            ConfigNode columns = reader.optional("targets");
            YAML::Node resolvedColumns(YAML::NodeType::Sequence);
            if (!columns.yaml().IsDefined())
                data.targetColumns = {"-1"};
            else if (columns.isScalar())
                data.targetColumns = {columns.asString()};
            else
                for (const auto& item : columns.items()) data.targetColumns.push_back(item.asString());
            for (const auto& column : data.targetColumns) resolvedColumns.push_back(column);
            reader.resolve("targets", resolvedColumns);
        } else {  // hdf5, hdf5_sequences
            data.inputsDataset = reader.string("inputs", "inputs");
            data.targetsDataset = reader.string("targets", "targets");
        }
    }
    if (data.kind != "idx" && data.kind != "fashion_mnist")
        for (const char* key : {"test", "test_every_eval"})
            if (reader.has(key))
                reader.optional(key).fail("the official test split exists for kind idx (with test_images and "
                                          "test_labels) and fashion_mnist only; kind " + data.kind +
                                          " holds out a fraction of its samples with 'validation:'");
    data.validation = reader.real("validation", 0.0, 0.0, 0.9);
    data.shuffle = reader.boolean("shuffle", true);
    data.seed = static_cast<std::uint64_t>(reader.integer("seed", static_cast<std::int64_t>(runSeed), 0, maxInt));
    reader.finish();
    return data;
}

/// `probes:`: a list of probe plugins, each with its schedule (every, at, at_init, at_end), its name (default:
/// its kind), its batch (`batch`, `from: train|eval`) or the layers it starts from (`from: [layer names]`).
std::vector<ProbeConfig> readProbes(const ConfigNode& list, const PluginHost& host, MapReader& parent,
                                    std::int64_t steps) {
    std::vector<ProbeConfig> probes;
    YAML::Node resolvedList(YAML::NodeType::Sequence);
    if (list.yaml().IsDefined() && !list.isNull()) {
        if (!list.isSequence()) list.fail("expected a list of probes, e.g. [{kind: jacobian_spectrum, every: 100}]");
        for (const ConfigNode& item : list.items()) {
            ProbeConfig probe;
            YAML::Node resolvedOne(YAML::NodeType::Map);
            bool scheduled = false;
            probe.spec = readPluginSpec(item, PluginKind::probe, host, resolvedOne, [&](MapReader& keys) {
                probe.name = keys.string("name", "");
                probe.every = keys.integer("every", 0, 0, maxInt);
                ConfigNode at = keys.optional("at");
                YAML::Node resolvedAt(YAML::NodeType::Sequence);
                if (at.yaml().IsDefined() && !at.isNull()) {
                    if (!at.isSequence()) at.fail("expected a list of steps, e.g. [0, 100, 1000]");
                    for (const ConfigNode& step : at.items()) {
                        const std::int64_t value = step.asInteger();
                        if (value < 0) step.fail("a probe step counts updates from 0, got " + std::to_string(value));
                        if (value > steps)
                            step.fail("probe step " + std::to_string(value) + " is after the run's last step (training "
                                      "has " + std::to_string(steps) + " steps; step " + std::to_string(steps) +
                                      " is after the last update)");
                        probe.at.push_back(value);
                        resolvedAt.push_back(value);
                    }
                }
                keys.resolve("at", resolvedAt);
                probe.atInit = keys.boolean("at_init", false);
                probe.atEnd = keys.boolean("at_end", false);
                const ConfigNode batch = keys.optional("batch");
                if (batch.yaml().IsDefined() && batch.isScalar() && batch.yaml().Scalar() == "all") {
                    probe.fullBatch = true;
                    keys.resolve("batch", YAML::Node("all"));
                } else {
                    if (batch.yaml().IsDefined() && batch.isScalar() && !batch.yaml().Scalar().empty() &&
                        !std::isdigit(static_cast<unsigned char>(batch.yaml().Scalar().front())) &&
                        batch.yaml().Scalar().front() != '-' && batch.yaml().Scalar().front() != '+')
                        batch.fail("expected a sample count or 'all' (the whole training or validation set), got '" +
                                   batch.yaml().Scalar() + "'" + suggestionSuffix(batch.yaml().Scalar(), {"all"}));
                    probe.batch = keys.integer("batch", 32, 1, 1000000);
                }
                ConfigNode from = keys.optional("from");
                if (from.yaml().IsDefined() && from.isSequence()) {
                    YAML::Node resolvedFrom(YAML::NodeType::Sequence);
                    for (const ConfigNode& layer : from.items()) {
                        probe.fromLayers.push_back(layer.asString());
                        resolvedFrom.push_back(probe.fromLayers.back());
                    }
                    if (probe.fromLayers.empty()) from.fail("expected 'train', 'eval' or a non-empty list of layer names");
                    keys.resolve("from", resolvedFrom);
                } else {
                    probe.from = keys.choice("from", "train", {"train", "eval"}) == "eval" ? ProbeSource::eval
                                                                                           : ProbeSource::train;
                }
                probe.toLayer = keys.string("to", "");
                ConfigNode timesteps = keys.optional("timesteps");
                YAML::Node resolvedTimesteps(YAML::NodeType::Sequence);
                if (timesteps.yaml().IsDefined() && !timesteps.isNull()) {
                    if (!timesteps.isSequence())
                        timesteps.fail("expected a list of timesteps of the recurrent layers, e.g. [0, 10, 50]");
                    for (const ConfigNode& step : timesteps.items()) {
                        const std::int64_t value = step.asInteger();
                        if (value < 0) step.fail("timesteps count from 0 (the first step), got " + std::to_string(value));
                        probe.timesteps.push_back(value);
                        resolvedTimesteps.push_back(value);
                    }
                }
                keys.resolve("timesteps", resolvedTimesteps);
                scheduled = probe.every > 0 || !probe.at.empty() || probe.atInit || probe.atEnd;
            });
            if (probe.name.empty()) probe.name = probe.spec.name;
            resolvedOne["name"] = probe.name;
            if (!scheduled)
                item.fail("probe '" + probe.name + "' has no schedule: give 'every: k', 'at: [steps]', 'at_init: true' "
                          "or 'at_end: true'");
            if (probe.name.find('/') != std::string::npos || probe.name == "." || probe.name == "..")
                item.fail("probe name '" + probe.name + "' cannot be an HDF5 group name (no '/', '.' or '..')");
            for (const ProbeConfig& other : probes)
                if (other.name == probe.name)
                    item.fail("two probes are named '" + probe.name + "': give one of them another 'name:'");
            resolvedList.push_back(resolvedOne);
            probes.push_back(std::move(probe));
        }
    }
    // Without probes the resolved config stays as it was before probes existed (checkpoints compare it).
    if (!probes.empty()) parent.resolve("probes", resolvedList);
    return probes;
}

/// `detectors:`: per detector its thresholds and `action: record | stop`.
DetectorsConfig readDetectors(const ConfigNode& given, YAML::Node resolved, const ConfigNode& root) {
    DetectorsConfig config;
    const ConfigNode node =
        given.yaml().IsDefined() ? given : ConfigNode(YAML::Node(YAML::NodeType::Map), root.source(), "detectors");
    MapReader reader(node, resolved, "the detectors section");
    const std::vector<std::string> actions{"record", "stop"};
    auto section = [&](const std::string& name, const std::function<void(MapReader&)>& body) {
        ConfigNode child = reader.optional(name);
        const ConfigNode present =
            child.yaml().IsDefined() ? child : ConfigNode(YAML::Node(YAML::NodeType::Map), root.source(), child.path());
        MapReader detector(present, reader.resolvedChild(name), "the " + name + " detector");
        body(detector);
        detector.finish();
    };
    section("non_finite", [&](MapReader& d) { config.nonFiniteStops = d.choice("action", "stop", actions) == "stop"; });
    section("exploding", [&](MapReader& d) {
        config.explodingNorm = d.real("norm", config.explodingNorm, 0.0, unbounded);
        config.explodingGrowth = d.real("growth", config.explodingGrowth, 1.0, unbounded);
        config.explodingWindow = d.integer("window", config.explodingWindow, 1, 1000000);
        config.explodingStops = d.choice("action", "record", actions) == "stop";
    });
    section("vanishing", [&](MapReader& d) {
        config.vanishingRatio = d.real("ratio", config.vanishingRatio, 0.0, 1.0);
        config.vanishingStops = d.choice("action", "record", actions) == "stop";
    });
    section("stalled", [&](MapReader& d) {
        config.stalledLossChange = d.real("loss_change", config.stalledLossChange, 0.0, 1.0);
        config.stalledUpdateRatio = d.real("update_ratio", config.stalledUpdateRatio, 0.0, 1.0);
        config.stalledWindow = d.integer("window", config.stalledWindow, 1, 1000000);
        config.stalledStops = d.choice("action", "record", actions) == "stop";
    });
    section("saturated", [&](MapReader& d) {
        config.saturatedSlope = d.real("slope", config.saturatedSlope, 0.0, unbounded);
        config.saturatedFraction = d.real("fraction", config.saturatedFraction, 0.0, 1.0);
        config.saturatedStops = d.choice("action", "record", actions) == "stop";
    });
    reader.finish();
    return config;
}

}  // namespace

RunConfig readRunConfig(const ConfigNode& root, const PluginHost& host) {
    RunConfig config;
    config.file = root.source()->file;
    YAML::Node resolved(YAML::NodeType::Map);
    MapReader reader(root, resolved, "a run config");
    if (reader.has("sweep"))  // studies are expanded by `gradlab sweep`, which strips the block before reading
        reader.optional("sweep").fail("this is a study config (it has a sweep: block): run it with 'gradlab sweep " +
                                      config.file + "' (see docs/studies.md)");

    config.name = reader.string("name", std::filesystem::path(config.file).stem().string());
    config.seed = static_cast<std::uint64_t>(reader.integer("seed", 0, 0, maxInt));
    config.precision = reader.choice("precision", "float32", {"float32", "float64"});

    config.data = readData(reader.required("data"), config.seed, reader.resolvedChild("data"));

    {
        ConfigNode modelNode = reader.required("model");
        MapReader model(modelNode, reader.resolvedChild("model"), "the model section");
        ConfigNode layers = model.required("layers");
        if (!layers.isSequence() || layers.yaml().size() == 0) layers.fail("expected a non-empty list of layers");
        YAML::Node resolvedLayers(YAML::NodeType::Sequence);
        config.layers = readLayerList(layers, host, resolvedLayers);
        if (config.layers.empty()) layers.fail("every layer is null or none (removed): the model has no layers");
        model.resolve("layers", resolvedLayers);
        model.finish();
    }

    {
        ConfigNode lossNode = reader.optional("loss");
        const std::vector<std::string> losses{"sse", "mse", "softmax_cross_entropy", "binary_cross_entropy"};
        if (!lossNode.yaml().IsDefined() || lossNode.isScalar()) {
            config.loss.kind = reader.choice("loss", "mse", losses);
        } else {
            MapReader loss(lossNode, reader.resolvedChild("loss"), "a loss");
            config.loss.kind = loss.choice("kind", "mse", losses);
            if (config.loss.kind == "binary_cross_entropy") config.loss.fromLogits = loss.boolean("from_logits", true);
            loss.finish();
        }
    }

    config.optimizer =
        readPluginSpec(reader.required("optimizer"), PluginKind::optimizer, host, reader.resolvedChild("optimizer"));

    {
        ConfigNode list = reader.optional("regularizers");
        YAML::Node resolvedList(YAML::NodeType::Sequence);
        if (list.yaml().IsDefined() && !list.isNull()) {
            for (const ConfigNode& item : list.items()) {
                RegularizerConfig regularizer;
                YAML::Node resolvedOne(YAML::NodeType::Map);
                regularizer.spec = readPluginSpec(item, PluginKind::regularizer, host, resolvedOne,
                                                  [&](MapReader& keys) { regularizer.params = keys.string("params", "weights"); });
                resolvedList.push_back(resolvedOne);
                config.regularizers.push_back(std::move(regularizer));
            }
        }
        reader.resolve("regularizers", resolvedList);
    }

    {
        ConfigNode node = reader.required("training");
        MapReader training(node, reader.resolvedChild("training"), "the training section");
        const ConfigNode batchSize = training.optional("batch_size");
        if (batchSize.yaml().IsDefined() && batchSize.isScalar() && batchSize.yaml().Scalar() == "all") {
            config.training.fullBatch = true;
            training.resolve("batch_size", YAML::Node("all"));
        } else {
            if (batchSize.yaml().IsDefined() && batchSize.isScalar() && !batchSize.yaml().Scalar().empty() &&
                !std::isdigit(static_cast<unsigned char>(batchSize.yaml().Scalar().front())) &&
                batchSize.yaml().Scalar().front() != '-' && batchSize.yaml().Scalar().front() != '+')
                batchSize.fail("expected a sample count or 'all' (one batch of the whole training set), got '" +
                               batchSize.yaml().Scalar() + "'" + suggestionSuffix(batchSize.yaml().Scalar(), {"all"}));
            config.training.batchSize = training.integer("batch_size", 32, 1, maxInt);
        }
        const bool hasSteps = training.has("steps"), hasEpochs = training.has("epochs");
        training.optional("steps");  // known keys, for did-you-mean, even when absent
        training.optional("epochs");
        if (hasSteps) config.training.steps = training.integer("steps", 1, 1, maxInt);
        const double epochs = hasEpochs ? training.real("epochs", 1.0, 1e-9, 1e9) : 0.0;
        config.training.threads = static_cast<int>(training.integer("threads", 1, 1, 256));
        config.training.evalEvery = training.integer("eval_every", 0, 0, maxInt);
        ConfigNode clipNode = training.optional("clip");
        if (clipNode.yaml().IsDefined()) {
            MapReader clip(clipNode, training.resolvedChild("clip"), "gradient clipping ({mode, threshold})");
            config.training.clip.mode = clip.choice("mode", "global_norm", {"none", "global_norm", "parameter_norm", "value"});
            config.training.clip.threshold = clip.real("threshold", 1.0, 1e-300, unbounded);
            clip.finish();
        }
        ConfigNode scheduleNode = training.optional("schedule");
        if (scheduleNode.yaml().IsDefined()) {
            auto& schedule = config.training.schedule;
            if (scheduleNode.isScalar()) {
                schedule.kind = training.choice("schedule", "constant", {"constant", "step", "exponential", "cosine"});
            } else {
                MapReader reader(scheduleNode, training.resolvedChild("schedule"), "a learning-rate schedule");
                schedule.kind = reader.choice("kind", "constant", {"constant", "step", "exponential", "cosine"});
                schedule.warmupSteps = reader.integer("warmup_steps", 0, 0, maxInt);
                if (schedule.kind == "step") schedule.stepSize = reader.integer("step_size", 1000, 1, maxInt);
                if (schedule.kind == "step" || schedule.kind == "exponential")
                    schedule.gamma = reader.real("gamma", schedule.kind == "step" ? 0.1 : 0.999, 0.0, 1.0);
                if (schedule.kind == "cosine") schedule.minimumFactor = reader.real("min_factor", 0.0, 0.0, 1.0);
                reader.finish();
            }
        }
        training.finish();
        if (hasSteps == hasEpochs) node.fail("give exactly one of 'steps' and 'epochs'");
        if (hasEpochs) {
            if (config.data.samples <= 0) node.fail("'epochs' needs a known sample count; for file data give 'steps'");
            const double trainSamples = static_cast<double>(config.data.samples) * (1.0 - config.data.validation);
            const double steps = config.training.fullBatch
                                     ? std::ceil(epochs)
                                     : std::ceil(epochs * trainSamples / static_cast<double>(config.training.batchSize));
            // Converting a double beyond int64 is undefined behaviour: refuse what no run could finish anyway.
            if (!(steps < 9e18))
                node.fail("'epochs' " + std::to_string(epochs) + " over " + std::to_string(config.data.samples) +
                          " samples in batches of " + std::to_string(config.training.batchSize) +
                          " is more steps than can be counted");
            config.training.steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(steps));
            // The resolved config says how many steps ran; epochs was only a way to ask for them.
            training.forget("epochs");
            training.resolve("steps", YAML::Node(config.training.steps));
        }
    }

    {
        ConfigNode node = reader.optional("trace");
        YAML::Node resolvedTrace = reader.resolvedChild("trace");
        if (!node.yaml().IsDefined()) node = ConfigNode(YAML::Node(YAML::NodeType::Map), root.source(), "trace");
        MapReader trace(node, resolvedTrace, "the trace section");
        config.trace.enabled = trace.boolean("enabled", true);
        config.trace.every = trace.integer("every", 1, 1, maxInt);
        config.trace.snapshotEvery = trace.integer("snapshot_every", 0, 0, maxInt);
        config.trace.flushEvery = trace.integer("flush_every", 100, 1, 1000000);
        trace.finish();
    }

    {
        ConfigNode node = reader.optional("checkpoint");
        YAML::Node resolvedCheckpoint = reader.resolvedChild("checkpoint");
        if (!node.yaml().IsDefined())
            node = ConfigNode(YAML::Node(YAML::NodeType::Map), root.source(), "checkpoint");
        MapReader checkpoint(node, resolvedCheckpoint, "the checkpoint section");
        config.checkpoint.enabled = checkpoint.boolean("enabled", true);
        config.checkpoint.every = checkpoint.integer("every", 0, 0, maxInt);
        config.checkpoint.seconds = checkpoint.real("seconds", 300.0, 0.0, unbounded);
        config.checkpoint.path = checkpoint.string("path", "");
        if (config.checkpoint.enabled && config.checkpoint.every == 0 && config.checkpoint.seconds == 0)
            node.fail("give 'every' (steps) or 'seconds' above 0, or 'enabled: false'");
        checkpoint.finish();
    }

    config.detectors = readDetectors(reader.optional("detectors"), reader.resolvedChild("detectors"), root);

    config.probes = readProbes(reader.optional("probes"), host, reader, config.training.steps);
    if (!config.probes.empty() && !config.trace.enabled)
        reader.node().child("probes").fail("probes write their tables into the trace: remove 'probes' or set trace.enabled: true");

    config.output = reader.string("output", "runs/" + config.name + ".h5");
    reader.finish();

    YAML::Emitter emitter;
    emitter << resolved;
    config.resolvedYaml = std::string(emitter.c_str()) + "\n";
    return config;
}

RunConfig loadRunConfig(const std::string& file, const std::vector<std::string>& overrides, const PluginHost& host) {
    return readRunConfig(loadConfigFile(file, overrides), host);
}

}  // namespace gradlab
