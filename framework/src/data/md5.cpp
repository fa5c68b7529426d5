/// @file md5.cpp
/// MD5 as specified in RFC 1321, section 3 (the per-round shifts and the sine-derived constants of 3.4).

#include "data/md5.hpp"

#include <algorithm>
#include <cstring>

#include "gradlab/error.hpp"

namespace gradlab::data {

namespace {

/// Per-operation left-rotation amounts, four rounds of sixteen (RFC 1321, 3.4).
constexpr std::uint32_t shift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                      5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

/// T[i] = floor(2^32 |sin(i + 1)|) (RFC 1321, 3.4).
constexpr std::uint32_t sineTable[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

std::uint32_t rotateLeft(std::uint32_t value, std::uint32_t bits) { return (value << bits) | (value >> (32 - bits)); }

}  // namespace

Md5::Md5() : state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {}

void Md5::transform(const std::uint8_t* block) {
    std::uint32_t words[16];
    for (int i = 0; i < 16; ++i)  // little-endian words, whatever the host's byte order
        words[i] = static_cast<std::uint32_t>(block[4 * i]) | static_cast<std::uint32_t>(block[4 * i + 1]) << 8 |
                   static_cast<std::uint32_t>(block[4 * i + 2]) << 16 |
                   static_cast<std::uint32_t>(block[4 * i + 3]) << 24;
    std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    for (int i = 0; i < 64; ++i) {
        std::uint32_t f = 0;
        int g = 0;
        if (i < 16) {
            f = (b & c) | (~b & d);  // F
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);  // G
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;  // H
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);  // I
            g = (7 * i) % 16;
        }
        const std::uint32_t next = d;
        d = c;
        c = b;
        b = b + rotateLeft(a + f + sineTable[i] + words[g], shift[i]);
        a = next;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
}

void Md5::update(const void* bytes, std::size_t size) {
    if (finished_) throw Error("Md5::update after hexDigest()");
    const auto* input = static_cast<const std::uint8_t*>(bytes);
    std::size_t filled = static_cast<std::size_t>(length_ % 64);
    length_ += size;
    if (filled > 0) {
        const std::size_t take = std::min(size, 64 - filled);
        std::memcpy(buffer_.data() + filled, input, take);
        input += take;
        size -= take;
        filled += take;
        if (filled < 64) return;
        transform(buffer_.data());
    }
    for (; size >= 64; input += 64, size -= 64) transform(input);
    if (size > 0) std::memcpy(buffer_.data(), input, size);
}

std::string Md5::hexDigest() {
    if (!finished_) {
        // Padding: a 1 bit, zeros up to 56 mod 64 bytes, then the message length in bits, little-endian.
        const std::uint64_t bits = length_ * 8;
        const std::uint8_t one = 0x80, zero = 0;
        update(&one, 1);
        while (length_ % 64 != 56) update(&zero, 1);
        std::uint8_t lengthBytes[8];
        for (int i = 0; i < 8; ++i) lengthBytes[i] = static_cast<std::uint8_t>(bits >> (8 * i));
        update(lengthBytes, 8);
        finished_ = true;
    }
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (std::uint32_t word : state_)
        for (int i = 0; i < 4; ++i) {
            const auto byte = static_cast<std::uint8_t>(word >> (8 * i));
            hex += digits[byte >> 4];
            hex += digits[byte & 15];
        }
    return hex;
}

std::string md5Hex(const void* bytes, std::size_t size) {
    Md5 md5;
    md5.update(bytes, size);
    return md5.hexDigest();
}

}  // namespace gradlab::data
