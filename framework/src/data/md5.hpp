#pragma once
/// @file md5.hpp
/// The MD5 message digest (RFC 1321), to check downloaded data files against their published digests.
/// Not for security: MD5 is broken for collision resistance, and is used here only as the checksum that
/// data sets publish.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace gradlab::data {

/// Incremental MD5 (RFC 1321): update() with the bytes in any number of pieces, then hexDigest().
class Md5 {
public:
    Md5();

    /// Adds `size` bytes at `bytes` to the message.
    void update(const void* bytes, std::size_t size);

    /// The 32 lower-case hex digits of the digest of everything added so far; ends the computation (a
    /// further update() throws Error).
    std::string hexDigest();

private:
    void transform(const std::uint8_t* block);

    std::array<std::uint32_t, 4> state_;
    std::array<std::uint8_t, 64> buffer_{};
    std::uint64_t length_ = 0;  ///< bytes added
    bool finished_ = false;
};

/// The hex MD5 digest of `size` bytes at `bytes`.
std::string md5Hex(const void* bytes, std::size_t size);

}  // namespace gradlab::data
