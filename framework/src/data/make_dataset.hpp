#pragma once
/// @file make_dataset.hpp
/// The data set a config's data section describes: the one factory of every data kind.

#include "data/data_config.hpp"
#include "data/dataset.hpp"

namespace gradlab::data {

/// Makes the configured dataset; file errors name the file, generator errors the data section, an unknown
/// kind names the section and the kind. Image data asked for its official test split (data.test) also fills
/// `test`; other kinds leave it empty. Generated and file data are checked finite (data::checkFinite).
Dataset makeDataset(const DataConfig& config, Dataset& test);

}  // namespace gradlab::data
