#pragma once
/// @file data_config.hpp
/// The data section of a run's config, as the config reader fills it and makeDataset() reads it.

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_data.hpp"

namespace gradlab {

/// Where the data comes from and how it is split.
struct DataConfig {
    std::string kind;  ///< random_regression | teacher | spirals | csv | hdf5 | adding_sum | adding_mean |
                       ///< copy_memory | temporal_order | noisy_sine | hdf5_sequences | idx | fashion_mnist
    std::int64_t samples = 0;
    std::int64_t inputs = 0;
    std::int64_t outputs = 0;
    std::vector<std::int64_t> hidden;  ///< teacher's hidden widths
    double noise = 0.0;
    double inputStd = 1.0;             ///< random_regression: x ~ N(0, input_std^2)
    std::int64_t classes = 0;          ///< spirals
    std::int64_t timesteps = 0;        ///< sequence tasks: T
    std::string file;                  ///< csv, hdf5 (resolved against the config's folder)
    bool header = true;                ///< csv
    std::vector<std::string> targetColumns;  ///< csv
    std::string inputsDataset;         ///< hdf5
    std::string targetsDataset;        ///< hdf5
    bool classification = false;       ///< csv, hdf5
    data::ImageSource images;          ///< idx, fashion_mnist: the files (paths resolved against the config's folder)
    data::ImagePreparation preparation;  ///< idx, fashion_mnist: normalize, subset, view
    bool test = false;                 ///< idx, fashion_mnist: evaluate the official test split into /test at the end
    bool testEveryEval = false;        ///< ... and at every evaluation (training.eval_every)
    double validation = 0.0;           ///< fraction held out
    bool shuffle = true;
    std::uint64_t seed = 0;
    std::string where;                 ///< of the data section, for data errors
};

}  // namespace gradlab
