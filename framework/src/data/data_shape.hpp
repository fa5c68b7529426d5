#pragma once
/// @file data_shape.hpp
/// What a model must fit, as the data says: one sample's input shape and what the loss compares the output with.
/// `gradlab run` reads it off the loaded data, `gradlab validate` from the config alone (generators) or the file.

#include "config/run_config.hpp"
#include "data/dataset.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// The shapes of a data set, without its values.
struct DataShape {
    Shape input;                ///< features x timesteps of one sample
    Index outputs = 0;          ///< targets per target timestep (1 for class labels)
    Index targetTimesteps = 1;  ///< 1 (a target per sequence) or input.timesteps (a target per step)
    Index classes = 0;          ///< number of classes of class-label targets; 0 for regression
};

/// The shape of a loaded (or generated) data set.
DataShape dataShape(const data::Dataset& dataset);

/// The shape of the data `config` describes: from the config for the generators (nothing is drawn), from the
/// file for csv, hdf5 and hdf5_sequences (read as `gradlab run` reads it: the number of classes of class labels
/// is in the data). Throws Error as loading the data would.
DataShape dataShape(const DataConfig& config);

}  // namespace gradlab
