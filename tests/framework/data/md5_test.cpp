#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "data/md5.hpp"
#include "gradlab/error.hpp"
#include "gradlab/random.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::data::Md5;
using gradlab::data::md5Hex;

namespace {

std::string md5Of(const std::string& text) { return md5Hex(text.data(), text.size()); }

}  // namespace

TEST_CASE("md5: the test suite of RFC 1321, appendix A.5", "[data][md5]") {
    CHECK(md5Of("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(md5Of("a") == "0cc175b9c0f1b6a831c399e269772661");
    CHECK(md5Of("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(md5Of("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(md5Of("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
    CHECK(md5Of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
          "d174ab98d277d9f5a5611c2c9f419d9f");
    CHECK(md5Of("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
          "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("md5: the digest does not depend on how the message is cut into pieces", "[data][md5]") {
    gradlab::Random random(5);
    std::vector<unsigned char> bytes(1000);
    for (auto& byte : bytes) byte = static_cast<unsigned char>(random.below(256));
    const std::string whole = md5Hex(bytes.data(), bytes.size());
    // Every length around the 56- and 64-byte padding boundaries, and pieces of every size up to 130.
    for (std::size_t length : {55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129}) {
        CAPTURE(length);
        const std::string one = md5Hex(bytes.data(), length);
        for (std::size_t piece = 1; piece <= 130; piece += 7) {
            Md5 md5;
            for (std::size_t at = 0; at < length; at += piece) md5.update(bytes.data() + at, std::min(piece, length - at));
            CHECK(md5.hexDigest() == one);
        }
    }
    Md5 md5;
    md5.update(bytes.data(), 300);
    md5.update(bytes.data() + 300, 700);
    CHECK(md5.hexDigest() == whole);
    CHECK(md5.hexDigest() == whole);  // asking again gives the same digest
    CHECK_THROWS_AS(md5.update(bytes.data(), 1), gradlab::Error);
}

TEST_CASE("md5: agrees with coreutils md5sum on 200 bSymbol of random bytes", "[data][md5]") {
    gradlab::Random random(9);
    std::vector<unsigned char> bytes(200003);
    for (auto& byte : bytes) byte = static_cast<unsigned char>(random.below(256));
    const std::string path = gradlab::testing::scratchPath("md5-random.bin");
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
    std::FILE* pipe = ::popen(("md5sum '" + path + "'").c_str(), "r");
    REQUIRE(pipe != nullptr);
    char digest[33] = {};
    REQUIRE(std::fread(digest, 1, 32, pipe) == 32);
    ::pclose(pipe);
    std::remove(path.c_str());
    CHECK(md5Hex(bytes.data(), bytes.size()) == std::string(digest));
}
