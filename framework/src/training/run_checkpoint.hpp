#pragma once
/// @file run_checkpoint.hpp
/// A run's model and optimizer in a checkpoint: written and restored tensor by tensor, and the check that a
/// checkpoint belongs to the run that resumes from it (docs/config-reference.md, `checkpoint`).

#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint.hpp"
#include "gradlab/optimizer.hpp"
#include "model/network.hpp"

namespace gradlab {

/// Calls visit(name, buffer) for every buffer of every layer (batch norm's running statistics, power-iteration
/// directions), named "<layer name>.<buffer>" as the trace's /model/buffers and the checkpoint's /buffers do.
template <typename Scalar, typename Visit>
void forEachBuffer(Network<Scalar>& network, Visit&& visit) {
    for (std::size_t l = 0; l < network.size(); ++l) {
        std::vector<std::pair<std::string, Buffer<Scalar>*>> buffers;
        network.layer(l).collectBuffers(network.layerNames()[l] + ".", buffers);
        for (const auto& [name, buffer] : buffers) visit(name, *buffer);
    }
}

/// Writes every parameter (/parameters), buffer (/buffers) and the optimizer's state (/optimizer).
template <typename Scalar>
void writeModelState(checkpoint::CheckpointWriter& writer, Network<Scalar>& network, Optimizer<Scalar>& optimizer);

/// Restores what writeModelState() wrote; throws Error naming the checkpoint's dataset that is missing, of
/// another shape or damaged, and the optimizer (`optimizerName`) whose state does not fit.
template <typename Scalar>
void readModelState(const checkpoint::CheckpointReader& reader, Network<Scalar>& network, Optimizer<Scalar>& optimizer,
                    const std::string& optimizerName);

/// Throws Error unless the checkpoint was written with the run's resolved config (which covers precision,
/// steps and the model), naming the checkpoint and the first line that differs.
void requireSameConfig(const std::string& checkpointPath, const std::string& saved, const std::string& current);

/// "resolved config line N: checkpoint 'a', now 'b'" for the first line where two texts differ.
std::string firstDifference(const std::string& saved, const std::string& current);

}  // namespace gradlab
