#pragma once
/// @file idx.hpp
/// Reads image sets stored as IDX files (LeCun's MNIST format, also Fashion-MNIST's), gzip-compressed or raw.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/tensor.hpp"

namespace gradlab::data {

/// The IDX magic number of an image file: 0x00 0x00, type 0x08 (unsigned byte), 3 dimensions [n x rows x cols].
constexpr std::uint32_t idxImagesMagic = 0x00000803;
/// The IDX magic number of a label file: 0x00 0x00, type 0x08 (unsigned byte), 1 dimension [n].
constexpr std::uint32_t idxLabelsMagic = 0x00000801;

/// The whole content of a file, gunzipped when it is gzip-compressed (recognised by its magic bytes, so a
/// raw file with a .gz name reads too). Throws Error naming the file when it is missing or unreadable, or when
/// its gzip stream is truncated or corrupt.
std::vector<std::uint8_t> readMaybeGzipped(const std::string& path);

/// One IDX array of unsigned bytes: its big-endian dimensions and its values in row-major order.
struct IdxArray {
    std::vector<std::uint32_t> dimensions;
    std::vector<std::uint8_t> values;
};

/// Parses IDX `bytes` (the uncompressed content of `path`) whose magic number must be `expectedMagic`
/// (idxImagesMagic or idxLabelsMagic). Throws Error naming `path` for a wrong magic number (saying what it
/// would be), a header cut short, data shorter than the dimensions say ("truncated") and bytes beyond them.
IdxArray parseIdx(const std::vector<std::uint8_t>& bytes, std::uint32_t expectedMagic, const std::string& path);

/// Labelled images as stored: n images of rows x cols unsigned bytes, and one label per image.
struct ImageSet {
    Index count = 0;
    Index rows = 0;
    Index cols = 0;
    /// [count * rows * cols]: image after image, each row-major (pixel (r, c) of image i at (i rows + r) cols + c).
    std::vector<std::uint8_t> pixels;
    /// [count]: the class index of each image.
    std::vector<std::uint8_t> labels;
    /// Largest label + 1.
    Index classes = 0;
    std::string imagesPath;
    std::string labelsPath;

    /// Pixels per image.
    Index pixelsPerImage() const { return rows * cols; }
};

/// What the bytes of an image and a label file must hash to: the MD5 of the uncompressed content, 32 lower-case
/// hex digits; empty means unchecked.
struct ExpectedDigests {
    std::string images;
    std::string labels;
};

/// Reads an image file and a label file (each gzip or raw IDX) into one ImageSet. Throws Error naming the file
/// and what was expected: a missing file, a wrong magic number, truncated data, an MD5 that differs from
/// `digests`, and image and label counts that differ. Cached per process: the same two files (same path, size
/// and modification time) with the same digests are read and checked once, later calls share the result.
std::shared_ptr<const ImageSet> loadIdxImageSet(const std::string& imagesPath, const std::string& labelsPath,
                                                const ExpectedDigests& digests = {});

/// Writes `values` as an IDX file of unsigned bytes with the given dimensions (magic 0x0000 08 rank),
/// gzip-compressed when `gzip`. For tests and tools; throws Error naming the file when it cannot be written.
void writeIdx(const std::string& path, const std::vector<std::uint32_t>& dimensions,
              const std::vector<std::uint8_t>& values, bool gzip);

}  // namespace gradlab::data
