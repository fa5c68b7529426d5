/// @file distributions.cpp
/// Initializers drawing from fixed distributions, independent of the fans: normal and uniform.

#include <sstream>

#include "gradlab/sdk.hpp"

namespace {

/// Each entry drawn from N(mean, std^2), in column-major order.
template <typename Scalar>
class Normal : public gradlab::Initializer<Scalar> {
public:
    /// Reads `mean` and `std`.
    explicit Normal(const gradlab::Options& options) : mean_(options.real("mean")), std_(options.real("std")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        Scalar* data = value.data();
        for (gradlab::Index i = 0; i < value.size(); ++i) data[i] = static_cast<Scalar>(random.normal(mean_, std_));
    }

private:
    double mean_ = 0.0;
    double std_ = 1.0;
};

/// Each entry drawn from U[low, high), in column-major order.
template <typename Scalar>
class Uniform : public gradlab::Initializer<Scalar> {
public:
    /// Reads `low` and `high`; throws unless low < high.
    explicit Uniform(const gradlab::Options& options) : low_(options.real("low")), high_(options.real("high")) {
        if (!(low_ < high_)) {
            std::ostringstream message;
            message << "option 'low' must be < 'high', got low = " << low_ << ", high = " << high_;
            throw gradlab::Error(message.str());
        }
    }

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        Scalar* data = value.data();
        for (gradlab::Index i = 0; i < value.size(); ++i) data[i] = static_cast<Scalar>(random.uniform(low_, high_));
    }

private:
    double low_ = -0.05;
    double high_ = 0.05;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_distributions", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry.addInitializer<Normal>("normal", "entries ~ N(mean, std^2), whatever the fans")
        .option(OptionSpec::real("mean", 0.0, "mean of the distribution"))
        .option(OptionSpec::real("std", 1.0, "standard deviation").min(0.0));
    registry.addInitializer<Uniform>("uniform", "entries ~ U[low, high), whatever the fans")
        .option(OptionSpec::real("low", -0.05, "lower bound (inclusive)"))
        .option(OptionSpec::real("high", 0.05, "upper bound (exclusive); must be > low"));
}
