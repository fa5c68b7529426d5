/// @file constant.cpp
/// Constant initializers: constant (option `value`) and zeros.

#include "gradlab/sdk.hpp"

namespace {

/// Fills every entry with `value`.
template <typename Scalar>
class Constant : public gradlab::Initializer<Scalar> {
public:
    /// Reads `value`.
    explicit Constant(const gradlab::Options& options) : value_(options.real("value")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        value.setConstant(static_cast<Scalar>(value_));
    }

private:
    double value_ = 0.0;
};

/// Fills every entry with 0 (the default for biases).
template <typename Scalar>
class Zeros : public gradlab::Initializer<Scalar> {
public:
    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        value.setZero();
    }
};

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_constant", "1.0.0", registry) {
    registry.addInitializer<Constant>("constant", "every entry = value")
        .option(gradlab::OptionSpec::real("value", 0.0, "the value of every entry"));
    registry.addInitializer<Zeros>("zeros", "every entry = 0 (the default for biases)");
}
