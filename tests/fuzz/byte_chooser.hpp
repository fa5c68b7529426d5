#pragma once
/// @file byte_chooser.hpp
/// Turns a libFuzzer input into the choices a mutator makes (the same interface as SeededRandom), so that the
/// fuzzer's coverage feedback steers which mutations are made. Past the end of the input every choice is 0.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gradlab::fuzz {

class ByteChooser {
public:
    ByteChooser(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }

    std::uint64_t next() {
        std::uint64_t value = 0;
        for (int index = 0; index < 8; ++index) value |= std::uint64_t(byte()) << (8 * index);
        return value;
    }

    /// In [0, count); count > 0. One byte for small counts, so that each choice maps to one input byte.
    std::size_t below(std::size_t count) {
        if (count <= 256) return byte() % count;
        if (count <= 65536) return (std::size_t(byte()) | std::size_t(byte()) << 8) % count;
        return static_cast<std::size_t>(next() % count);
    }

    bool chance(unsigned percent) { return below(100) < percent; }

    template <typename T>
    const T& pick(const std::vector<T>& values) {
        return values[below(values.size())];
    }

    bool exhausted() const { return position_ >= size_; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t position_ = 0;
};

}  // namespace gradlab::fuzz
