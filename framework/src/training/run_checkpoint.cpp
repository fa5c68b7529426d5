#include "training/run_checkpoint.hpp"

#include <sstream>

#include "gradlab/error.hpp"

namespace gradlab {

template <typename Scalar>
void writeModelState(checkpoint::CheckpointWriter& writer, Network<Scalar>& network, Optimizer<Scalar>& optimizer) {
    for (const auto& parameter : network.parameters())
        writer.writeTensor("/parameters", parameter.name, parameter.parameter->value);
    forEachBuffer(network, [&](const std::string& name, Buffer<Scalar>& buffer) {
        writer.writeTensor("/buffers", name, buffer.value);
    });
    checkpoint::StateSaver<Scalar> saver(writer, "/optimizer");
    optimizer.visitState(saver);
}

template <typename Scalar>
void readModelState(const checkpoint::CheckpointReader& reader, Network<Scalar>& network, Optimizer<Scalar>& optimizer,
                    const std::string& optimizerName) {
    for (const auto& parameter : network.parameters())
        reader.readTensor("/parameters", parameter.name, parameter.parameter->value);
    forEachBuffer(network, [&](const std::string& name, Buffer<Scalar>& buffer) {
        reader.readTensor("/buffers", name, buffer.value);
    });
    checkpoint::StateRestorer<Scalar> restorer(reader, "/optimizer", "optimizer '" + optimizerName + "'");
    optimizer.visitState(restorer);
    restorer.finish();
}

void requireSameConfig(const std::string& checkpointPath, const std::string& saved, const std::string& current) {
    if (saved == current) return;
    throw Error("cannot resume from '" + checkpointPath + "': it was written with a different config (" +
                firstDifference(saved, current) +
                "); resume with the config and --set overrides of the killed run, or run without --resume to start "
                "afresh");
}

std::string firstDifference(const std::string& saved, const std::string& current) {
    std::istringstream a(saved), b(current);
    std::string lineA, lineB;
    for (int line = 1;; ++line) {
        const bool moreA = static_cast<bool>(std::getline(a, lineA));
        const bool moreB = static_cast<bool>(std::getline(b, lineB));
        if (!moreA && !moreB) return "they differ in whitespace only";
        if (!moreA) lineA = "(end)";
        if (!moreB) lineB = "(end)";
        if (!moreA || !moreB || lineA != lineB)
            return "resolved config line " + std::to_string(line) + ": checkpoint '" + lineA + "', now '" + lineB +
                   "'";
    }
}

template void writeModelState<float>(checkpoint::CheckpointWriter&, Network<float>&, Optimizer<float>&);
template void writeModelState<double>(checkpoint::CheckpointWriter&, Network<double>&, Optimizer<double>&);
template void readModelState<float>(const checkpoint::CheckpointReader&, Network<float>&, Optimizer<float>&,
                                    const std::string&);
template void readModelState<double>(const checkpoint::CheckpointReader&, Network<double>&, Optimizer<double>&,
                                     const std::string&);

}  // namespace gradlab
