// Loading and preparing Fashion-MNIST's 60,000 training images (Debian's dataset-fashion-mnist): the first read in
// a process (gunzip, MD5, IDX parse) against the later ones, which the per-process cache of loadIdxImageSet turns
// into the preparation alone (subset, scaling, view: one pass over the bytes through a 256-entry table).
#include <benchmark/benchmark.h>

#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "data/image_data.hpp"
#include "data/md5.hpp"

namespace {

using namespace gradlab::data;

/// The uncached path: what the first load in a process costs.
void firstRead(benchmark::State& state) {
    const std::string images = fashionMnistFile(fashionMnistFolder, "train-images-idx3-ubyte");
    const std::string labels = fashionMnistFile(fashionMnistFolder, "train-labels-idx1-ubyte");
    for (auto _ : state) {
        const std::vector<std::uint8_t> imageBytes = readMaybeGzipped(images);
        const std::vector<std::uint8_t> labelBytes = readMaybeGzipped(labels);
        benchmark::DoNotOptimize(md5Hex(imageBytes.data(), imageBytes.size()));
        benchmark::DoNotOptimize(md5Hex(labelBytes.data(), labelBytes.size()));
        IdxArray array = parseIdx(imageBytes, idxImagesMagic, images);
        benchmark::DoNotOptimize(array.values.data());
    }
}
BENCHMARK(firstRead)->Unit(benchmark::millisecond)->Iterations(3);

/// What every later load costs: the cached bytes prepared into a Dataset, per view and scaling.
void cachedLoadAndPrepare(benchmark::State& state) {
    ImageSource source;
    source.kind = "fashion_mnist";
    source.folder = fashionMnistFolder;
    ImagePreparation preparation;
    preparation.view = static_cast<ImageView>(state.range(0));
    preparation.normalize = static_cast<PixelScaling>(state.range(1));
    loadImages(source, preparation, false);  // fills the cache
    for (auto _ : state) {
        ImageSplits splits = loadImages(source, preparation, false);
        benchmark::DoNotOptimize(splits.train.inputs.data());
    }
    state.SetLabel(imageViewName(preparation.view) + ", normalize " + pixelScalingName(preparation.normalize));
}
BENCHMARK(cachedLoadAndPrepare)
    ->Args({static_cast<int>(ImageView::flat), static_cast<int>(PixelScaling::unit)})
    ->Args({static_cast<int>(ImageView::flat), static_cast<int>(PixelScaling::standard)})
    ->Args({static_cast<int>(ImageView::pixels), static_cast<int>(PixelScaling::unit)})
    ->Args({static_cast<int>(ImageView::permutedPixels), static_cast<int>(PixelScaling::unit)})
    ->Unit(benchmark::millisecond)
    ->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
