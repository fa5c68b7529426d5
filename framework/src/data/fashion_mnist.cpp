/// @file fashion_mnist.cpp
/// Fashion-MNIST from its folder, every file checked against the MD5 of its uncompressed bytes.

#include "data/fashion_mnist.hpp"

#include <filesystem>

#include "gradlab/error.hpp"

namespace gradlab::data {

std::string fashionMnistFile(const std::string& folder, const std::string& stem) {
    const std::filesystem::path base = std::filesystem::path(folder) / stem;
    std::error_code error;
    const std::string compressed = base.string() + ".gz";
    if (std::filesystem::exists(compressed, error)) return compressed;
    if (std::filesystem::exists(base, error)) return base.string();
    // Compared as the folder of a file in it, so that a trailing '/' or '.' segments do not matter.
    const bool debianFolder = (std::filesystem::path(folder) / stem).lexically_normal().parent_path() ==
                              std::filesystem::path(fashionMnistFolder);
    throw Error("Fashion-MNIST: '" + compressed + "' is missing" +
                (debianFolder ? std::string("; install it with: apt-get install dataset-fashion-mnist")
                              : "; data.dir must name a folder holding train-images-idx3-ubyte.gz, "
                                "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                                "(or the files without .gz); Debian's package installs them in " +
                                    std::string(fashionMnistFolder) + " (apt-get install dataset-fashion-mnist)"));
}

FashionMnist loadFashionMnist(const std::string& folder, bool withTest) {
    // Every file is looked for before any is read, in this order, so that a missing one is named first.
    const std::string trainImages = fashionMnistFile(folder, "train-images-idx3-ubyte");
    const std::string trainLabels = fashionMnistFile(folder, "train-labels-idx1-ubyte");
    std::string testImages, testLabels;
    if (withTest) {
        testImages = fashionMnistFile(folder, "t10k-images-idx3-ubyte");
        testLabels = fashionMnistFile(folder, "t10k-labels-idx1-ubyte");
    }
    FashionMnist set;
    set.train = loadIdxImageSet(trainImages, trainLabels, {fashionMnistTrainImagesMd5, fashionMnistTrainLabelsMd5});
    if (withTest)
        set.test = loadIdxImageSet(testImages, testLabels, {fashionMnistTestImagesMd5, fashionMnistTestLabelsMd5});
    return set;
}

}  // namespace gradlab::data
