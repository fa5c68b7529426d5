/// @file idx.cpp
/// IDX files (http://yann.lecun.com/exdb/mnist/, "file formats"): a 4-byte magic number 0x00 0x00 TYPE RANK,
/// RANK big-endian 32-bit dimensions, then the values in row-major order. Only TYPE 0x08 (unsigned byte) is read,
/// which is what MNIST and Fashion-MNIST use. Files may be gzip-compressed (zlib's inflate).

#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "data/md5.hpp"
#include "gradlab/error.hpp"

namespace gradlab::data {

namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string hex32(std::uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", value);
    return text;
}

std::string shapeText(const std::vector<std::uint32_t>& dimensions) {
    std::string text;
    for (std::size_t i = 0; i < dimensions.size(); ++i) text += (i ? " x " : "") + std::to_string(dimensions[i]);
    return text;
}

/// What a magic number means, for messages: "IDX images [n x rows x cols] of unsigned bytes".
std::string describeMagic(std::uint32_t magic) {
    if (magic == idxImagesMagic) return "IDX images [n x rows x cols] of unsigned bytes";
    if (magic == idxLabelsMagic) return "IDX labels [n] of unsigned bytes";
    return "IDX unsigned bytes of rank " + std::to_string(magic & 0xff);
}

std::vector<std::uint8_t> readWholeFile(const std::string& path) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) throw Error("cannot open " + quoted(path) + ": no such file");
    if (std::filesystem::is_directory(path, error))
        throw Error("cannot read " + quoted(path) + ": it is a folder, expected an IDX file");
    std::ifstream stream(path, std::ios::binary);
    if (!stream) throw Error("cannot open " + quoted(path) + ": " + std::strerror(errno));
    stream.seekg(0, std::ios::end);
    const std::streamoff size = stream.tellg();
    stream.seekg(0, std::ios::beg);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(std::max<std::streamoff>(size, 0)));
    if (!bytes.empty() && !stream.read(reinterpret_cast<char*>(bytes.data()), size))
        throw Error("cannot read " + quoted(path) + ": " + std::strerror(errno));
    return bytes;
}

/// Inflates one gzip member held in memory; refuses a stream that ends early or fails its check.
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& compressed, const std::string& path) {
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw Error("cannot gunzip " + quoted(path) + ": zlib init");
    std::vector<std::uint8_t> output;
    // The gzip trailer's last 4 bytes are the uncompressed size mod 2^32: a good first capacity.
    std::size_t capacity = compressed.size() * 2 + 64;
    if (compressed.size() >= 18) {
        const std::size_t n = compressed.size();
        const std::uint32_t size = static_cast<std::uint32_t>(compressed[n - 4]) |
                                   static_cast<std::uint32_t>(compressed[n - 3]) << 8 |
                                   static_cast<std::uint32_t>(compressed[n - 2]) << 16 |
                                   static_cast<std::uint32_t>(compressed[n - 1]) << 24;
        if (size > 0 && size < (1u << 31) && size / 1100 <= compressed.size()) capacity = size;
    }
    output.resize(capacity);
    stream.next_in = const_cast<Bytef*>(compressed.data());
    stream.avail_in = static_cast<uInt>(compressed.size());
    int status = Z_OK;
    std::size_t produced = 0;
    while (true) {
        if (produced == output.size()) output.resize(output.size() * 2);
        const std::size_t room = std::min<std::size_t>(output.size() - produced, 1u << 30);
        stream.next_out = output.data() + produced;
        stream.avail_out = static_cast<uInt>(room);
        status = inflate(&stream, Z_NO_FLUSH);
        produced += room - stream.avail_out;
        if (status == Z_STREAM_END) break;
        if (status == Z_BUF_ERROR && stream.avail_in == 0) {
            inflateEnd(&stream);
            throw Error(quoted(path) + ": the gzip stream is truncated (it ends after " + std::to_string(produced) +
                        " uncompressed bytes, before its end marker): the file is incomplete");
        }
        if (status != Z_OK && status != Z_BUF_ERROR) {
            const std::string reason = stream.msg != nullptr ? stream.msg : "error " + std::to_string(status);
            inflateEnd(&stream);
            throw Error(quoted(path) + ": corrupt gzip data (" + reason + ")");
        }
    }
    inflateEnd(&stream);
    output.resize(produced);
    return output;
}

}  // namespace

std::vector<std::uint8_t> readMaybeGzipped(const std::string& path) {
    std::vector<std::uint8_t> bytes = readWholeFile(path);
    if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return gunzip(bytes, path);
    return bytes;
}

IdxArray parseIdx(const std::vector<std::uint8_t>& bytes, std::uint32_t expectedMagic, const std::string& path) {
    const std::string expected = hex32(expectedMagic) + " (" + describeMagic(expectedMagic) + ")";
    if (bytes.size() < 4)
        throw Error(quoted(path) + ": truncated: " + std::to_string(bytes.size()) +
                    " bytes, too short for an IDX magic number; expected " + expected);
    const std::uint32_t magic = static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
                                static_cast<std::uint32_t>(bytes[2]) << 8 | bytes[3];
    if (magic != expectedMagic) {
        std::string hint;
        if (magic == idxImagesMagic || magic == idxLabelsMagic)
            hint = ": this is a file of " + describeMagic(magic) + " (images and labels swapped?)";
        else if ((magic >> 16) != 0)
            hint = ": not an IDX file (its first two bytes must be 0)";
        else if (((magic >> 8) & 0xff) != 0x08)
            hint = ": IDX of type " + hex32((magic >> 8) & 0xff).substr(8) + ", only unsigned bytes (0x08) are read";
        throw Error(quoted(path) + ": magic number " + hex32(magic) + ", expected " + expected + hint);
    }
    const std::size_t rank = expectedMagic & 0xff;
    const std::size_t header = 4 + 4 * rank;
    if (bytes.size() < header)
        throw Error(quoted(path) + ": truncated: " + std::to_string(bytes.size()) + " bytes, the header of " +
                    describeMagic(magic) + " takes " + std::to_string(header));
    IdxArray array;
    std::uint64_t count = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        const std::uint8_t* at = bytes.data() + 4 + 4 * d;
        const std::uint32_t extent = static_cast<std::uint32_t>(at[0]) << 24 | static_cast<std::uint32_t>(at[1]) << 16 |
                                     static_cast<std::uint32_t>(at[2]) << 8 | at[3];
        array.dimensions.push_back(extent);
        count *= extent;  // at most 3 factors below 2^32: a product of up to 2^96 is caught by the check below
        if (count > (std::uint64_t{1} << 40))
            throw Error(quoted(path) + ": dimensions " + shapeText(array.dimensions) + "... claim more than 2^40 values");
    }
    const std::uint64_t stored = bytes.size() - header;
    if (stored < count)
        throw Error(quoted(path) + ": truncated: its header says " + shapeText(array.dimensions) + " = " +
                    std::to_string(count) + " bytes of data, but only " + std::to_string(stored) +
                    " follow the " + std::to_string(header) + "-byte header");
    if (stored > count)
        throw Error(quoted(path) + ": " + std::to_string(stored - count) + " bytes after the " +
                    std::to_string(count) + " of " + shapeText(array.dimensions) +
                    " its header announces; expected the file to end there");
    array.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return array;
}

namespace {

/// Reads and checks one file: its uncompressed bytes' MD5 against `digest` (when given), then its IDX array.
IdxArray readIdxChecked(const std::string& path, std::uint32_t magic, const std::string& digest) {
    const std::vector<std::uint8_t> bytes = readMaybeGzipped(path);
    if (!digest.empty()) {
        const std::string actual = md5Hex(bytes.data(), bytes.size());
        if (actual != digest)
            throw Error(quoted(path) + ": MD5 of the uncompressed bytes is " + actual + ", expected " + digest +
                        " (the file is damaged or not the expected release; reinstall it)");
    }
    return parseIdx(bytes, magic, path);
}

std::shared_ptr<const ImageSet> readImageSet(const std::string& imagesPath, const std::string& labelsPath,
                                             const ExpectedDigests& digests) {
    IdxArray images = readIdxChecked(imagesPath, idxImagesMagic, digests.images);
    IdxArray labels = readIdxChecked(labelsPath, idxLabelsMagic, digests.labels);
    if (images.dimensions[0] != labels.dimensions[0])
        throw Error(quoted(imagesPath) + " holds " + std::to_string(images.dimensions[0]) + " images but " +
                    quoted(labelsPath) + " holds " + std::to_string(labels.dimensions[0]) +
                    " labels; expected one label per image");
    if (images.dimensions[0] == 0) throw Error(quoted(imagesPath) + ": no images (its header says 0 x ...)");
    if (images.dimensions[1] == 0 || images.dimensions[2] == 0)
        throw Error(quoted(imagesPath) + ": images of " + std::to_string(images.dimensions[1]) + " x " +
                    std::to_string(images.dimensions[2]) + " pixels; expected at least 1 x 1");
    auto set = std::make_shared<ImageSet>();
    set->count = static_cast<Index>(images.dimensions[0]);
    set->rows = static_cast<Index>(images.dimensions[1]);
    set->cols = static_cast<Index>(images.dimensions[2]);
    set->pixels = std::move(images.values);
    set->labels = std::move(labels.values);
    set->classes = 1 + *std::max_element(set->labels.begin(), set->labels.end());
    set->imagesPath = imagesPath;
    set->labelsPath = labelsPath;
    return set;
}

/// A file's identity for the cache: its canonical path, size and modification time.
std::string fileIdentity(const std::string& path) {
    std::error_code error;
    const std::filesystem::path canonical = std::filesystem::canonical(path, error);
    if (error) return path;  // missing: reading it will say so
    const auto size = std::filesystem::file_size(canonical, error);
    const auto time = std::filesystem::last_write_time(canonical, error).time_since_epoch().count();
    return canonical.string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

}  // namespace

std::shared_ptr<const ImageSet> loadIdxImageSet(const std::string& imagesPath, const std::string& labelsPath,
                                                const ExpectedDigests& digests) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const ImageSet>> cache;
    const std::string key = fileIdentity(imagesPath) + "\n" + fileIdentity(labelsPath) + "\n" + digests.images +
                            "\n" + digests.labels;
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = cache.find(key);
    if (found != cache.end()) {
        // Same identity, but the set keeps the paths it was first read under.
        if (found->second->imagesPath == imagesPath && found->second->labelsPath == labelsPath) return found->second;
        auto renamed = std::make_shared<ImageSet>(*found->second);
        renamed->imagesPath = imagesPath;
        renamed->labelsPath = labelsPath;
        return renamed;
    }
    std::shared_ptr<const ImageSet> set = readImageSet(imagesPath, labelsPath, digests);
    cache.emplace(key, set);
    return set;
}

void writeIdx(const std::string& path, const std::vector<std::uint32_t>& dimensions,
              const std::vector<std::uint8_t>& values, bool gzip) {
    std::vector<std::uint8_t> bytes{0, 0, 0x08, static_cast<std::uint8_t>(dimensions.size())};
    for (std::uint32_t extent : dimensions)
        for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(extent >> shift));
    bytes.insert(bytes.end(), values.begin(), values.end());
    if (gzip) {
        gzFile file = gzopen(path.c_str(), "wb");
        if (file == nullptr) throw Error("cannot write " + quoted(path) + ": " + std::strerror(errno));
        const bool written = bytes.empty() || gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                                                  static_cast<int>(bytes.size());
        if (gzclose(file) != Z_OK || !written) throw Error("cannot write " + quoted(path));
        return;
    }
    std::ofstream stream(path, std::ios::binary);
    stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!stream) throw Error("cannot write " + quoted(path) + ": " + std::strerror(errno));
}

}  // namespace gradlab::data
