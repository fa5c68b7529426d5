#include "training/nonfinite.hpp"

#include <cmath>

namespace gradlab {

template <typename Scalar>
Event locateForward(const Network<Scalar>& network, std::int64_t step, double loss) {
    Event event{step, schema::eventKind::nonFinite, "", -1, loss, ""};
    const std::string what = std::string("loss became ") + (std::isnan(loss) ? "NaN" : "Inf") + " at step " +
                             std::to_string(step);
    for (const auto& parameter : network.parameters())
        if (!parameter.parameter->value.allFinite()) {
            event.where = "update " + parameter.name;
            event.message = what + "; first non-finite value: " + parameter.name + " after the update of step " +
                            std::to_string(step - 1);
            return event;
        }
    for (std::size_t l = 0; l < network.size(); ++l)
        if (!network.output(l).allFinite()) {
            event.where = "forward " + network.layerNames()[l];
            event.timestep = firstNonFiniteTimestep(network.output(l), network.outputShape(l));
            event.message = what + "; first non-finite value: forward output of " + network.layerNames()[l] +
                            (event.timestep >= 0 ? " at timestep " + std::to_string(event.timestep) : "");
            return event;
        }
    event.where = "forward loss";
    event.message = what + "; the network's output is finite: the loss itself overflowed";
    return event;
}

template <typename Scalar>
Event locateBackward(const Network<Scalar>& network, std::int64_t step, double gradNorm) {
    Event event{step, schema::eventKind::nonFinite, "", -1, gradNorm, ""};
    const std::string what = "gradient norm became " + std::string(std::isnan(gradNorm) ? "NaN" : "Inf") +
                             " at step " + std::to_string(step);
    for (std::size_t l = network.size(); l-- > 0;)
        if (!network.signal(l).allFinite()) {
            event.where = "backward " + network.layerNames()[l];
            event.timestep = firstNonFiniteTimestep(network.signal(l), network.outputShape(l));
            event.message = what + "; first non-finite value: the gradient at the output of " +
                            network.layerNames()[l] +
                            (event.timestep >= 0 ? " at timestep " + std::to_string(event.timestep) : "");
            return event;
        }
    for (const auto& parameter : network.parameters())
        if (!parameter.parameter->grad.allFinite()) {
            event.where = "backward " + parameter.name;
            event.message = what + "; first non-finite value: the gradient of " + parameter.name;
            return event;
        }
    event.where = "backward";
    event.message = what;
    return event;
}

template <typename Scalar>
std::int64_t firstNonFiniteTimestep(const Matrix<Scalar>& values, Shape shape) {
    if (shape.timesteps <= 1 || values.cols() == 0) return -1;
    const Index batch = values.cols() / shape.timesteps;
    for (Index t = 0; t < shape.timesteps; ++t)
        if (!values.middleCols(t * batch, batch).allFinite()) return t;
    return -1;
}

Event nonFiniteUpdate(const std::string& parameter, std::int64_t step, double updateNorm) {
    return {step, schema::eventKind::nonFinite, "update " + parameter, -1, updateNorm,
            "the update of " + parameter + " became non-finite at step " + std::to_string(step)};
}

template Event locateForward<float>(const Network<float>&, std::int64_t, double);
template Event locateForward<double>(const Network<double>&, std::int64_t, double);
template Event locateBackward<float>(const Network<float>&, std::int64_t, double);
template Event locateBackward<double>(const Network<double>&, std::int64_t, double);
template std::int64_t firstNonFiniteTimestep<float>(const Matrix<float>&, Shape);
template std::int64_t firstNonFiniteTimestep<double>(const Matrix<double>&, Shape);

}  // namespace gradlab
