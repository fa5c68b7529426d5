#include "data/data_shape.hpp"

#include "data/make_dataset.hpp"
#include "gradlab/error.hpp"

namespace gradlab {

DataShape dataShape(const data::Dataset& dataset) {
    return DataShape{dataset.inputShape(), dataset.outputs(), dataset.targetTimesteps, dataset.classes};
}

DataShape dataShape(const DataConfig& config) {
    const std::string& kind = config.kind;
    const Index timesteps = static_cast<Index>(config.timesteps);
    // The generators' shapes (framework/src/data/synthetic.cpp, sequence_tasks.cpp; data_shape_test.cpp checks
    // each against a generated set).
    if (kind == "random_regression" || kind == "teacher")
        return DataShape{Shape{static_cast<Index>(config.inputs), 1}, static_cast<Index>(config.outputs), 1, 0};
    if (kind == "spirals") return DataShape{Shape{2, 1}, 1, 1, static_cast<Index>(config.classes)};
    if (kind == "adding_sum" || kind == "adding_mean") return DataShape{Shape{2, timesteps}, 1, 1, 0};
    if (kind == "copy_memory") {
        constexpr Index symbolCount = 10, categoryCount = 10;  // as makeCopyMemory: T + 20 steps of 10 categories
        return DataShape{Shape{categoryCount, timesteps + 2 * symbolCount}, 1, timesteps + 2 * symbolCount, categoryCount};
    }
    if (kind == "temporal_order") return DataShape{Shape{6, timesteps}, 1, 1, 4};
    if (kind == "noisy_sine") return DataShape{Shape{1, timesteps}, 1, timesteps, 0};
    if (kind == "csv") {
        data::CsvSpec spec;
        spec.header = config.header;
        spec.targetColumns = config.targetColumns;
        spec.classification = config.classification;
        return dataShape(data::loadCsv(config.file, spec));
    }
    if (kind == "hdf5")
        return dataShape(data::loadHdf5(config.file, config.inputsDataset, config.targetsDataset, config.classification));
    if (kind == "hdf5_sequences")
        return dataShape(
            data::loadHdf5Sequences(config.file, config.inputsDataset, config.targetsDataset, config.classification));
    if (kind == "idx" || kind == "fashion_mnist") {
        // The views and subsets decide the shape: prepared as the run prepares them (decoded files are cached).
        data::Dataset test;
        return dataShape(data::makeDataset(config, test));
    }
    throw Error(config.where + ": unknown data kind '" + kind + "'");
}

}  // namespace gradlab
