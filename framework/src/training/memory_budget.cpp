#include "training/memory_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/config_node.hpp"

namespace gradlab {
namespace {

/// The largest key the estimate grows with, for the message: the one a user would lower.
struct Driver {
    std::string key;
    std::int64_t value = 0;
};

Driver driverOf(const DataConfig& data) {
    if (data.timesteps > 1 && data.timesteps >= data.samples / 16) return {"timesteps", data.timesteps};
    if (data.inputs > data.samples) return {"inputs", data.inputs};
    return {"samples", data.samples};
}

}  // namespace

double availableMemoryBytes() {
    double available = std::numeric_limits<double>::infinity();
    std::ifstream meminfo("/proc/meminfo");
    for (std::string line; std::getline(meminfo, line);)
        if (line.rfind("MemAvailable:", 0) == 0) {
            std::istringstream fields(line.substr(13));
            double kibibytes = 0;
            if (fields >> kibibytes) available = kibibytes * 1024.0;
        }
    for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
        rlimit limit{};
        if (::getrlimit(resource, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
            available = std::min(available, static_cast<double>(limit.rlim_cur));
    }
    return available;
}

std::string formatBytes(double bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    while (bytes >= 1024.0 && unit < 5) {
        bytes /= 1024.0;
        ++unit;
    }
    char text[64];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
    return text;
}

double estimatedDataBytes(const DataConfig& data) {
    const double samples = static_cast<double>(std::max<std::int64_t>(data.samples, 0));
    const double steps = static_cast<double>(std::max<std::int64_t>(data.timesteps, 1));
    double perSample = 0;  // float64 values per sample, inputs and targets
    const std::string& kind = data.kind;
    if (kind == "random_regression" || kind == "teacher")
        perSample = static_cast<double>(data.inputs + data.outputs);
    else if (kind == "spirals")
        perSample = 3;
    else if (kind == "adding_sum" || kind == "adding_mean")
        perSample = 2 * steps + 1;
    else if (kind == "copy_memory")
        perSample = 11 * (steps + 20);  // 10 one-hot categories and a target per step of T + 20
    else if (kind == "temporal_order")
        perSample = 6 * steps + 1;  // at least the one-hot symbols of every step
    else if (kind == "noisy_sine")
        perSample = 2 * steps;
    return 8.0 * samples * perSample;
}

void checkDataFits(const RunConfig& config) {
    const double needed = estimatedDataBytes(config.data);
    const double available = availableMemoryBytes();
    if (needed <= available) return;
    const Driver driver = driverOf(config.data);
    throw ConfigError(config.file + ": data." + driver.key + " = " + std::to_string(driver.value) + ": the " +
                      config.data.kind + " data set (" + std::to_string(config.data.samples) + " samples" +
                      (config.data.timesteps > 1 ? " of " + std::to_string(config.data.timesteps) + " timesteps" : "") +
                      ") needs at least " + formatBytes(needed) + " of memory, more than the " +
                      formatBytes(available) + " available; lower data." + driver.key);
}

void checkActivationsFit(const RunConfig& config, double bytesPerSample) {
    const double needed = bytesPerSample * static_cast<double>(config.training.batchSize);
    const double available = availableMemoryBytes();
    if (needed <= available) return;
    throw ConfigError(config.file + ": training.batch_size = " + std::to_string(config.training.batchSize) +
                      ": one step keeps the activations and gradients of every layer for the batch, at least " +
                      formatBytes(needed) + " of memory, more than the " + formatBytes(available) +
                      " available; lower training.batch_size" +
                      (config.data.timesteps > 1 ? " or data.timesteps" : std::string()));
}

}  // namespace gradlab
