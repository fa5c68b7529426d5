#include "data/make_dataset.hpp"

#include "gradlab/error.hpp"

namespace gradlab::data {

Dataset makeDataset(const DataConfig& config, Dataset& test) {
    Dataset dataset;
    if (config.kind == "idx" || config.kind == "fashion_mnist") {
        ImageSplits images = loadImages(config.images, config.preparation, config.test);
        dataset = std::move(images.train);
        test = std::move(images.test);
    } else if (config.kind == "random_regression")
        dataset = makeRandomRegression(config.samples, config.inputs, config.outputs, config.seed, config.inputStd);
    else if (config.kind == "teacher")
        dataset = makeTeacher(config.samples, config.inputs, config.outputs,
                              std::vector<Index>(config.hidden.begin(), config.hidden.end()), config.noise, config.seed);
    else if (config.kind == "spirals")
        dataset = makeSpirals(config.samples, config.classes, config.noise, config.seed);
    else if (config.kind == "csv") {
        CsvSpec spec;
        spec.header = config.header;
        spec.targetColumns = config.targetColumns;
        spec.classification = config.classification;
        dataset = loadCsv(config.file, spec);
    } else if (config.kind == "hdf5")
        dataset = loadHdf5(config.file, config.inputsDataset, config.targetsDataset, config.classification);
    else if (config.kind == "hdf5_sequences")
        dataset = loadHdf5Sequences(config.file, config.inputsDataset, config.targetsDataset, config.classification);
    else if (config.kind == "adding_sum")
        dataset = makeAddingSum(config.samples, config.timesteps, config.seed);
    else if (config.kind == "adding_mean")
        dataset = makeAddingMean(config.samples, config.timesteps, config.seed);
    else if (config.kind == "copy_memory")
        dataset = makeCopyMemory(config.samples, config.timesteps, config.seed);
    else if (config.kind == "temporal_order")
        dataset = makeTemporalOrder(config.samples, config.timesteps, config.seed);
    else if (config.kind == "noisy_sine")
        dataset = makeNoisySine(config.samples, config.timesteps, config.noise, config.seed);
    else
        throw Error(config.where + ": unknown data kind '" + config.kind + "'");
    // Image pixels are finite bytes by construction: no check needed (it would cost a pass over 47M values).
    if (config.kind != "idx" && config.kind != "fashion_mnist")
        checkFinite(dataset, config.file.empty() ? config.kind : config.file);
    return dataset;
}

}  // namespace gradlab::data
