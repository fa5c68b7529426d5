// IDX files, raw and gzip, and every way a file can be wrong: small files generated here.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "data/md5.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab::data;
using Catch::Matchers::Contains;
using gradlab::Error;
using gradlab::testing::scratchPath;

namespace {

/// Five images of 2 x 3 pixels, pixel (r, c) of image i = 10 i + 3 r + c, labels 4 0 1 4 2.
std::vector<std::uint8_t> fivePixels() {
    std::vector<std::uint8_t> pixels;
    for (int i = 0; i < 5; ++i)
        for (int k = 0; k < 6; ++k) pixels.push_back(static_cast<std::uint8_t>(10 * i + k));
    return pixels;
}
const std::vector<std::uint8_t> fiveLabels{4, 0, 1, 4, 2};

/// Writes the five images and their labels under `stem`; returns {images path, labels path}.
std::pair<std::string, std::string> writeFive(const std::string& stem, bool gzip) {
    const std::string suffix = gzip ? ".gz" : "";
    const std::string images = scratchPath(stem + "-images" + suffix), labels = scratchPath(stem + "-labels" + suffix);
    writeIdx(images, {5, 2, 3}, fivePixels(), gzip);
    writeIdx(labels, {5}, fiveLabels, gzip);
    return {images, labels};
}

std::vector<std::uint8_t> readBytes(const std::string& path) {
    std::ifstream stream(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(stream), {});
}

void writeBytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("idx: images and labels read alike from raw and gzip files", "[data][idx]") {
    const bool gzip = GENERATE(false, true);
    CAPTURE(gzip);
    const auto [images, labels] = writeFive(gzip ? "five-gz" : "five-raw", gzip);
    if (gzip) CHECK(readBytes(images)[0] == 0x1f);  // really compressed
    const auto set = loadIdxImageSet(images, labels);
    CHECK(set->count == 5);
    CHECK(set->rows == 2);
    CHECK(set->cols == 3);
    CHECK(set->pixels == fivePixels());
    CHECK(set->labels == fiveLabels);
    CHECK(set->classes == 5);
    CHECK(set->imagesPath == images);
    CHECK(set->labelsPath == labels);
    // Header: magic, then the big-endian dimensions; the payload is the values in row-major order.
    const std::vector<std::uint8_t> bytes = readMaybeGzipped(images);
    REQUIRE(bytes.size() == 16 + 30);
    CHECK(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 8) ==
          std::vector<std::uint8_t>{0, 0, 8, 3, 0, 0, 0, 5});
}

TEST_CASE("idx: a wrong magic number is refused, naming the file and the magic expected", "[data][idx][errors]") {
    const auto [images, labels] = writeFive("magic", false);
    SECTION("images and labels swapped") {
        CHECK_THROWS_WITH(loadIdxImageSet(labels, images),
                          Contains("'" + labels + "': magic number 0x00000801, expected 0x00000803 (IDX images "
                                   "[n x rows x cols] of unsigned bytes)") &&
                              Contains("images and labels swapped?"));
    }
    SECTION("not an IDX file at all") {
        std::ofstream(images) << "P5 28 28 255\n";
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels),
                          Contains("'" + images + "': magic number 0x50352032, expected 0x00000803") &&
                              Contains("not an IDX file"));
    }
    SECTION("an IDX file of another type") {
        writeBytes(images, {0, 0, 0x0d, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // floats
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels), Contains("only unsigned bytes (0x08) are read"));
    }
    SECTION("too short for a magic number") {
        writeBytes(labels, {0, 0});
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels),
                          Contains("'" + labels + "': truncated: 2 bytes, too short for an IDX magic number"));
    }
}

TEST_CASE("idx: truncated data, a cut header and trailing bytes are refused", "[data][idx][errors]") {
    const auto [images, labels] = writeFive("truncated", false);
    std::vector<std::uint8_t> bytes = readBytes(images);
    SECTION("data cut short") {
        bytes.resize(bytes.size() - 7);
        writeBytes(images, bytes);
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels),
                          Contains("'" + images + "': truncated: its header says 5 x 2 x 3 = 30 bytes of data, but "
                                   "only 23 follow the 16-byte header"));
    }
    SECTION("header cut short") {
        bytes.resize(10);
        writeBytes(images, bytes);
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels),
                          Contains("'" + images + "': truncated: 10 bytes, the header of IDX images"));
    }
    SECTION("bytes after the data") {
        bytes.push_back(0);
        writeBytes(images, bytes);
        CHECK_THROWS_WITH(loadIdxImageSet(images, labels), Contains("'" + images + "': 1 bytes after the 30"));
    }
    SECTION("a gzip stream cut short") {
        const auto [gzImages, gzLabels] = writeFive("truncated-gz", true);
        std::vector<std::uint8_t> compressed = readBytes(gzImages);
        compressed.resize(compressed.size() - 12);
        writeBytes(gzImages, compressed);
        CHECK_THROWS_WITH(loadIdxImageSet(gzImages, gzLabels),
                          Contains("'" + gzImages + "': the gzip stream is truncated"));
    }
    SECTION("corrupt gzip data") {
        const auto [gzImages, gzLabels] = writeFive("corrupt-gz", true);
        std::vector<std::uint8_t> compressed = readBytes(gzImages);
        compressed[compressed.size() - 6] ^= 0xff;  // the CRC-32 of the trailer
        writeBytes(gzImages, compressed);
        CHECK_THROWS_WITH(loadIdxImageSet(gzImages, gzLabels), Contains("'" + gzImages + "': corrupt gzip data"));
    }
}

TEST_CASE("idx: image and label counts that differ are refused, naming both files", "[data][idx][errors]") {
    const auto [images, labels] = writeFive("counts", false);
    writeIdx(labels, {4}, {1, 2, 3, 4}, false);
    CHECK_THROWS_WITH(loadIdxImageSet(images, labels),
                      Contains("'" + images + "' holds 5 images but '" + labels +
                               "' holds 4 labels; expected one label per image"));
    writeIdx(images, {0, 2, 3}, {}, false);
    writeIdx(labels, {0}, {}, false);
    CHECK_THROWS_WITH(loadIdxImageSet(images, labels), Contains("no images"));
}

TEST_CASE("idx: a missing file and a wrong MD5 are refused, naming the file", "[data][idx][errors]") {
    const auto [images, labels] = writeFive("digest", true);
    CHECK_THROWS_WITH(loadIdxImageSet(images + ".missing", labels),
                      Contains("cannot open '" + images + ".missing': no such file"));
    const std::string imagesMd5 = md5Hex(readMaybeGzipped(images).data(), readMaybeGzipped(images).size());
    const std::string labelsMd5 = md5Hex(readMaybeGzipped(labels).data(), readMaybeGzipped(labels).size());
    CHECK(loadIdxImageSet(images, labels, {imagesMd5, labelsMd5})->count == 5);
    const std::string wrong(32, '0');
    CHECK_THROWS_WITH(loadIdxImageSet(images, labels, {imagesMd5, wrong}),
                      Contains("'" + labels + "': MD5 of the uncompressed bytes is " + labelsMd5 + ", expected " +
                               wrong));
}

TEST_CASE("idx: the same files are read once per process, a changed file again", "[data][idx][cache]") {
    const auto [images, labels] = writeFive("cache", false);
    const auto first = loadIdxImageSet(images, labels);
    CHECK(loadIdxImageSet(images, labels).get() == first.get());
    // Rewritten with other labels (and another size, so the identity changes whatever the clock's resolution).
    writeIdx(images, {4, 2, 3}, std::vector<std::uint8_t>(24, 7), false);
    writeIdx(labels, {4}, {1, 1, 1, 1}, false);
    const auto second = loadIdxImageSet(images, labels);
    CHECK(second.get() != first.get());
    CHECK(second->count == 4);
    CHECK(second->classes == 2);
}

TEST_CASE("fashion_mnist: a folder without the files says how to get them", "[data][idx][errors]") {
    CHECK_THROWS_WITH(fashionMnistFile("/usr/share/datasets/fashion-mnist/", "no-such-file-idx3-ubyte"),
                      Contains("'/usr/share/datasets/fashion-mnist/no-such-file-idx3-ubyte.gz' is missing; install "
                               "it with: apt-get install dataset-fashion-mnist"));
    const std::string empty = scratchPath("empty-fashion");
    std::filesystem::create_directories(empty);
    CHECK_THROWS_WITH(loadFashionMnist(empty, false),
                      Contains("'" + empty + "/train-images-idx3-ubyte.gz' is missing; data.dir must name a folder") &&
                          Contains("apt-get install dataset-fashion-mnist"));
}

TEST_CASE("idx: every cut and 1000 random byte changes of a raw and a gzip file give a set or an Error",
          "[data][idx][errors]") {
    const bool gzip = GENERATE(false, true);
    CAPTURE(gzip);
    // Named copies, not a structured binding: C++17 lets no lambda capture a binding (clang refuses it).
    const auto files = writeFive(gzip ? "mutate-gz" : "mutate-raw", gzip);
    const std::string images = files.first, labels = files.second;
    const std::vector<std::uint8_t> original = readBytes(images);
    int loaded = 0, refused = 0, attempts = 0;
    auto attempt = [&](const std::vector<std::uint8_t>& bytes) {
        // A fresh name each time: the per-process cache must not answer for an earlier version of the file.
        const std::string mutated =
            scratchPath("mutated-" + std::to_string(gzip) + "-" + std::to_string(attempts++) + (gzip ? ".gz" : ""));
        writeBytes(mutated, bytes);
        try {
            const auto set = loadIdxImageSet(mutated, labels);
            // Whatever was read is consistent with itself.
            CHECK(set->pixels.size() == static_cast<std::size_t>(set->count * set->rows * set->cols));
            ++loaded;
        } catch (const Error& error) {
            CHECK_THAT(std::string(error.what()), Contains(mutated) || Contains(labels));
            ++refused;
        }
        std::filesystem::remove(mutated);
    };
    for (std::size_t length = 0; length < original.size(); ++length)
        attempt(std::vector<std::uint8_t>(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(length)));
    CHECK(loaded == 0);  // no prefix is a whole file
    gradlab::Random random(17);
    for (int trial = 0; trial < 1000; ++trial) {
        std::vector<std::uint8_t> bytes = original;
        const int changes = 1 + static_cast<int>(random.below(3));
        for (int change = 0; change < changes; ++change)
            bytes[random.below(bytes.size())] = static_cast<std::uint8_t>(random.below(256));
        attempt(bytes);
    }
    CHECK(refused > 0);
    CHECK(loaded > 0);  // a changed pixel is still a valid file
}
