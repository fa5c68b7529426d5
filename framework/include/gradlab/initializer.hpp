#pragma once
/// @file initializer.hpp
/// The initializer plugin interface.

#include "gradlab/module.hpp"
#include "gradlab/random.hpp"

namespace gradlab {

/// Fills a parameter's initial value.
template <typename Scalar>
class Initializer {
public:
    virtual ~Initializer() = default;

    /// requires: value has the parameter's shape; init.fanIn/fanOut set by the layer.
    /// ensures: value overwritten (shape unchanged); draws only from `random`, so runs are reproducible.
    virtual void initialize(Matrix<Scalar>& value, const ParameterInit& init, Random& random) = 0;
};

}  // namespace gradlab
