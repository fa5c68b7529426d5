/// @file gemm_limit.cpp
/// The practical limit of each benchmark workload: the matrix products of one training step (forward and
/// backward, float32, column-major [features x batch] as gradlab lays batches out), done directly with Eigen
/// and nothing else: no activations, no loss, no update, no tracing. A workload's steps/s divided by this
/// rate is the fraction of the limit it reaches (benchmarks/run prints it).
///
/// Per dense layer with W [out x in] on X [in x B]: forward Z = W X, backward dW += dZ X^T and, unless it is
/// the first layer (whose input gradient nobody needs), dX = W^T dZ. The LSTM (input F, hidden H, T steps):
/// forward A = W_x X over all steps at once, then per step t >= 1 A_t += W_h h_{t-1} (W_h the stacked
/// [4H x H]); backward per step t >= 1 dh_{t-1} = W_h^T dA_t, then dW_x += dA X^T and dW_h += dA_{1..T-1}
/// h_{0..T-2}^T over all steps at once; its head is a dense layer on h_{T-1}.
///
/// Usage: gradlab_bench_gemm [Google Benchmark flags]; benchmarks are named gemm/<workload>/threads:<n>, and
/// each iteration is one training step's products (items_per_second = steps/s).

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
using Index = Eigen::Index;

/// One dense layer's operands: W [out x in], X [in x B], Z and dZ [out x B], dW [out x in], dX [in x B].
struct DenseProducts {
    Matrix weight, input, output, outputGrad, weightGrad, inputGrad;
    bool needsInputGrad = true;

    DenseProducts(Index in, Index out, Index batch, bool inputGrad)
        : weight(Matrix::Random(out, in)),
          input(Matrix::Random(in, batch)),
          output(out, batch),
          outputGrad(Matrix::Random(out, batch)),
          weightGrad(Matrix::Zero(out, in)),
          inputGrad(in, batch),
          needsInputGrad(inputGrad) {}

    void forward() { output.noalias() = weight * input; }
    void backward() {
        weightGrad.noalias() += outputGrad * input.transpose();
        if (needsInputGrad) inputGrad.noalias() = weight.transpose() * outputGrad;
    }
    double flops() const {
        const double perProduct = 2.0 * static_cast<double>(weight.size()) * static_cast<double>(input.cols());
        return perProduct * (needsInputGrad ? 3 : 2);
    }
};

/// A stack of dense layers, in -> widths[0] -> widths[1] ...; the first layer computes no input gradient.
struct DenseStack {
    std::vector<DenseProducts> layers;

    DenseStack(Index inputs, const std::vector<Index>& widths, Index batch) {
        Index in = inputs;
        for (std::size_t l = 0; l < widths.size(); ++l) {
            layers.emplace_back(in, widths[l], batch, l > 0);
            in = widths[l];
        }
    }
    void step() {
        for (auto& layer : layers) layer.forward();
        for (auto it = layers.rbegin(); it != layers.rend(); ++it) it->backward();
    }
    double flops() const {
        double total = 0;
        for (const auto& layer : layers) total += layer.flops();
        return total;
    }
};

/// The LSTM's products for input F, hidden H, T steps, batch B, and its dense head [outputs x H].
struct LstmProducts {
    Index features, hidden, timesteps, batch;
    Matrix inputWeight, recurrentWeight, inputs, gates, states, gatesGrad, stepGrad, inputWeightGrad,
        recurrentWeightGrad;
    DenseProducts head;

    LstmProducts(Index f, Index h, Index t, Index b, Index outputs)
        : features(f), hidden(h), timesteps(t), batch(b),
          inputWeight(Matrix::Random(4 * h, f)),
          recurrentWeight(Matrix::Random(4 * h, h)),
          inputs(Matrix::Random(f, t * b)),
          gates(4 * h, t * b),
          states(Matrix::Random(h, t * b)),
          gatesGrad(Matrix::Random(4 * h, t * b)),
          stepGrad(h, b),
          inputWeightGrad(Matrix::Zero(4 * h, f)),
          recurrentWeightGrad(Matrix::Zero(4 * h, h)),
          head(h, outputs, b, true) {}

    void step() {
        gates.noalias() = inputWeight * inputs;
        for (Index t = 1; t < timesteps; ++t)
            gates.middleCols(t * batch, batch).noalias() += recurrentWeight * states.middleCols((t - 1) * batch, batch);
        head.forward();
        head.backward();
        for (Index t = timesteps - 1; t >= 1; --t)
            stepGrad.noalias() = recurrentWeight.transpose() * gatesGrad.middleCols(t * batch, batch);
        inputWeightGrad.noalias() += gatesGrad * inputs.transpose();
        const Index shifted = (timesteps - 1) * batch;
        recurrentWeightGrad.noalias() += gatesGrad.rightCols(shifted) * states.leftCols(shifted).transpose();
        benchmark::DoNotOptimize(stepGrad.data());
    }
    double flops() const {
        const double g = 4.0 * static_cast<double>(hidden);
        const double tb = static_cast<double>(timesteps * batch);
        const double recurrent = 2.0 * g * static_cast<double>(hidden) * static_cast<double>((timesteps - 1) * batch);
        return 2 * 2.0 * g * static_cast<double>(features) * tb + 3 * recurrent + head.flops();
    }
};

void setThreads(int threads) {
    Eigen::setNbThreads(threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
}

template <typename Workload>
void runWorkload(benchmark::State& state, Workload& workload) {
    setThreads(static_cast<int>(state.range(0)));
    workload.step();  // warm up: first touch, thread pool
    for (auto _ : state) {
        workload.step();
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["GFLOP/s"] =
        benchmark::Counter(workload.flops() * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::isRate);
}

/// two_layer: batch 64, 1000 -> 100 -> 10, no bias.
void twoLayer(benchmark::State& state) {
    DenseStack workload(1000, {100, 10}, 64);
    runWorkload(state, workload);
}

/// deep_mlp: 256 -> 32 x 256 -> 10, batch 128.
void deepMlp(benchmark::State& state) {
    std::vector<Index> widths(32, 256);
    widths.push_back(10);
    DenseStack workload(256, widths, 128);
    runWorkload(state, workload);
}

/// resnet_bn: 16 blocks whose one product is a dense 256 -> 256, then a head 256 -> 10, batch 128 (the
/// residual additions and batch norms are not products).
void resnetBn(benchmark::State& state) {
    std::vector<Index> widths(16, 256);
    widths.push_back(10);
    DenseStack workload(256, widths, 128);
    runWorkload(state, workload);
}

/// lstm: input 32, hidden 128, T = 100, batch 32, head 10.
void lstm(benchmark::State& state) {
    LstmProducts workload(32, 128, 100, 32, 10);
    runWorkload(state, workload);
}

}  // namespace

BENCHMARK(twoLayer)->Name("gemm/two_layer")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(deepMlp)->Name("gemm/deep_mlp")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(lstm)->Name("gemm/lstm")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(resnetBn)->Name("gemm/resnet_bn")->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

BENCHMARK_MAIN();
