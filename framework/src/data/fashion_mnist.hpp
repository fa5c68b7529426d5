#pragma once
/// @file fashion_mnist.hpp
/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) as Debian's dataset-fashion-mnist package installs it.

#include <memory>
#include <string>

#include "data/idx.hpp"

namespace gradlab::data {

/// Where Debian's dataset-fashion-mnist installs the four files.
constexpr const char* fashionMnistFolder = "/usr/share/datasets/fashion-mnist";

/// The MD5 of each file's uncompressed bytes (Debian recompressed the .gz files, so digests of the compressed
/// files differ from upstream's; these are upstream's raw files).
constexpr const char* fashionMnistTrainImagesMd5 = "f4a8712d7a061bf5bd6d2ca38dc4d50a";
constexpr const char* fashionMnistTrainLabelsMd5 = "9018921c3c673c538a1fc5bad174d6f9";
constexpr const char* fashionMnistTestImagesMd5 = "8181f5470baa50b63fa0f6fddb340f0a";
constexpr const char* fashionMnistTestLabelsMd5 = "15d484375f8d13e6eb1aabb0c3f46965";

/// The two halves of Fashion-MNIST: 60,000 training and 10,000 test images of 28 x 28, 10 classes.
struct FashionMnist {
    std::shared_ptr<const ImageSet> train;
    std::shared_ptr<const ImageSet> test;
};

/// The path of one of the files in `folder`: "<folder>/<stem>.gz", or "<folder>/<stem>" when only the
/// uncompressed file is there. Throws Error naming the missing file, and for the Debian folder how to install it
/// ("install it with: apt-get install dataset-fashion-mnist").
std::string fashionMnistFile(const std::string& folder, const std::string& stem);

/// Reads the training set (train-images-idx3-ubyte, train-labels-idx1-ubyte) and, when `withTest`, the test set
/// (t10k-...) from `folder`, each file checked against its MD5; cached per process (loadIdxImageSet).
FashionMnist loadFashionMnist(const std::string& folder, bool withTest);

}  // namespace gradlab::data
