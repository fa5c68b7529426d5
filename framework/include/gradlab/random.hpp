#pragma once
/// @file random.hpp
/// A seeded random source whose streams are identical on every platform and compiler
/// (std::normal_distribution is implementation-defined; this is not).

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace gradlab {

/// 64-bit Mersenne Twister with portable uniform and normal draws (Marsaglia polar method).
class Random {
public:
    explicit Random(std::uint64_t seed = 0) : engine_(seed) {}

    /// Uniform in [0, 1), 53 random bits.
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

    /// Uniform in [low, high).
    double uniform(double low, double high) { return low + (high - low) * uniform(); }

    /// Standard normal N(0, 1).
    double normal() {
        if (hasSpare_) {
            hasSpare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2.0 * uniform() - 1.0;
            v = 2.0 * uniform() - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        const double factor = std::sqrt(-2.0 * std::log(s) / s);
        spare_ = v * factor;
        hasSpare_ = true;
        return u * factor;
    }

    /// N(mean, std^2).
    double normal(double mean, double std) { return mean + std * normal(); }

    /// Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)); }

    /// Raw 64-bit draw, e.g. to seed a child stream.
    std::uint64_t next() { return engine_(); }

    /// The complete state as text (the engine's standard text form, then the spare normal draw), for
    /// checkpoints: setState(state()) continues the stream exactly.
    std::string state() const {
        std::ostringstream text;
        text.precision(17);
        text << engine_ << ' ' << (hasSpare_ ? 1 : 0) << ' ' << std::hexfloat << spare_;
        return text.str();
    }

    /// Restores a state() text; returns false (and leaves the stream unchanged) if the text is not one.
    bool setState(const std::string& state) {
        std::istringstream text(state);
        std::mt19937_64 engine;
        int hasSpare = 0;
        std::string spare;
        if (!(text >> engine >> hasSpare >> spare) || (hasSpare != 0 && hasSpare != 1)) return false;
        // Read the hexfloat with strtod: libstdc++'s istream does not parse hexfloats.
        char* end = nullptr;
        const double spareValue = std::strtod(spare.c_str(), &end);
        if (end == spare.c_str() || *end != '\0') return false;
        engine_ = engine;
        hasSpare_ = hasSpare == 1;
        spare_ = spareValue;
        return true;
    }

private:
    std::mt19937_64 engine_;
    double spare_ = 0.0;
    bool hasSpare_ = false;
};

}  // namespace gradlab
