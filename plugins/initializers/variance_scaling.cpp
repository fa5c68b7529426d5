/// @file variance_scaling.cpp
/// Fan-scaled initializers, which keep activation and gradient variances constant across layers:
/// glorot/xavier (Glorot & Bengio 2010), he/kaiming (He et al. 2015), lecun (LeCun et al. 1998).
/// Each comes as normal (N(0, std^2)) or uniform (U[-sqrt(3) std, sqrt(3) std), the same variance).

#include <cmath>
#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// The distribution a fan-scaled initializer draws from, at a given standard deviation.
enum class Distribution { normal, uniform };

/// Fills value in column-major order with N(0, std^2) or U[-sqrt(3) std, sqrt(3) std) draws.
template <typename Scalar>
void fill(gradlab::Matrix<Scalar>& value, Distribution distribution, double std, gradlab::Random& random) {
    Scalar* data = value.data();
    if (distribution == Distribution::normal) {
        for (gradlab::Index i = 0; i < value.size(); ++i) data[i] = static_cast<Scalar>(std * random.normal());
    } else {
        const double bound = std::sqrt(3.0) * std;
        for (gradlab::Index i = 0; i < value.size(); ++i) data[i] = static_cast<Scalar>(random.uniform(-bound, bound));
    }
}

/// Throws unless a fan the initializer needs was set by the layer.
void requireFan(const char* initializer, const char* fanName, gradlab::Index fan) {
    if (fan < 1)
        throw gradlab::Error(std::string(initializer) + " needs " + fanName + " >= 1 from the parameter's layer, got " +
                             std::to_string(fan) + " (use an initializer that ignores fans, e.g. normal)");
}

/// Glorot & Bengio 2010 ("xavier"): std = gain sqrt(2 / (fanIn + fanOut)); the uniform bound is
/// gain sqrt(6 / (fanIn + fanOut)).
template <typename Scalar, Distribution distribution>
class Glorot : public gradlab::Initializer<Scalar> {
public:
    /// Reads `gain`.
    explicit Glorot(const gradlab::Options& options) : gain_(options.real("gain")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        requireFan("glorot", "fanIn", init.fanIn);
        requireFan("glorot", "fanOut", init.fanOut);
        fill(value, distribution, gain_ * std::sqrt(2.0 / static_cast<double>(init.fanIn + init.fanOut)), random);
    }

private:
    double gain_ = 1.0;
};

/// He et al. 2015 ("kaiming"): std = gain / sqrt(fan), fan = fanIn or fanOut by `mode`, gain sqrt(2) for
/// relu; the uniform bound is gain sqrt(3 / fan).
template <typename Scalar, Distribution distribution>
class He : public gradlab::Initializer<Scalar> {
public:
    /// Reads `mode` and `gain`.
    explicit He(const gradlab::Options& options)
        : useFanOut_(options.string("mode") == "fan_out"), gain_(options.real("gain")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        const gradlab::Index fan = useFanOut_ ? init.fanOut : init.fanIn;
        requireFan("he", useFanOut_ ? "fanOut" : "fanIn", fan);
        fill(value, distribution, gain_ / std::sqrt(static_cast<double>(fan)), random);
    }

private:
    bool useFanOut_ = false;
    double gain_ = std::sqrt(2.0);
};

/// LeCun et al. 1998 ("Efficient BackProp"), the selu initialisation: std = 1 / sqrt(fanIn).
template <typename Scalar>
class LecunNormal : public gradlab::Initializer<Scalar> {
public:
    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        requireFan("lecun_normal", "fanIn", init.fanIn);
        fill(value, Distribution::normal, 1.0 / std::sqrt(static_cast<double>(init.fanIn)), random);
    }
};

/// glorot_normal / xavier_normal.
template <typename Scalar>
using GlorotNormal = Glorot<Scalar, Distribution::normal>;
/// glorot_uniform / xavier_uniform.
template <typename Scalar>
using GlorotUniform = Glorot<Scalar, Distribution::uniform>;
/// he_normal / kaiming_normal.
template <typename Scalar>
using HeNormal = He<Scalar, Distribution::normal>;
/// he_uniform / kaiming_uniform.
template <typename Scalar>
using HeUniform = He<Scalar, Distribution::uniform>;

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_variance_scaling", "1.0.0", registry) {
    using gradlab::OptionSpec;
    const auto gain = [] { return OptionSpec::real("gain", 1.0, "scale of the standard deviation").min(0.0); };
    const auto heGain = [] {
        return OptionSpec::real("gain", std::sqrt(2.0), "std = gain / sqrt(fan); sqrt(2) for relu").min(0.0);
    };
    const auto mode = [] {
        return OptionSpec::choice("mode", "fan_in", {"fan_in", "fan_out"},
                                  "fan_in preserves forward variance, fan_out backward variance");
    };
    for (const char* name : {"glorot_normal", "xavier_normal"})
        registry.addInitializer<GlorotNormal>(name, "N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)) "
                                                    "(Glorot & Bengio 2010)")
            .option(gain());
    for (const char* name : {"glorot_uniform", "xavier_uniform"})
        registry.addInitializer<GlorotUniform>(name, "U[-a, a), a = gain sqrt(6 / (fan_in + fan_out)) "
                                                     "(Glorot & Bengio 2010)")
            .option(gain());
    for (const char* name : {"he_normal", "kaiming_normal"})
        registry.addInitializer<HeNormal>(name, "N(0, std^2), std = gain / sqrt(fan) (He et al. 2015)")
            .option(mode())
            .option(heGain());
    for (const char* name : {"he_uniform", "kaiming_uniform"})
        registry.addInitializer<HeUniform>(name, "U[-a, a), a = gain sqrt(3 / fan) (He et al. 2015)")
            .option(mode())
            .option(heGain());
    registry.addInitializer<LecunNormal>("lecun_normal", "N(0, 1 / fan_in) (LeCun et al. 1998; for selu)");
}
