// Internal: the little arbitrary-precision arithmetic the decoder needs.
//
// Pickled ints are kept as CPython stores them on the wire (little-endian
// two's complement). We only ever convert between that form, a magnitude in
// 32-bit limbs, and decimal text, and only for sizes bounded by limits, so a
// general bignum library (GMP) would be a heavy dependency for three loops.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pickleguard::bigint {

struct magnitude {
    bool negative = false;
    std::vector<std::uint32_t> limbs;  // little-endian base 2^32, no high zero limbs
    bool is_zero() const { return limbs.empty(); }
};

// magnitude = magnitude * mul + add
void mul_add(magnitude& m, std::uint32_t mul, std::uint32_t add);

// The value as int64 when it fits.
std::optional<std::int64_t> to_int64(const magnitude& m);

// Minimal little-endian two's complement bytes (at least one byte).
std::string to_twos_complement(const magnitude& m);

// Shortest form of a little-endian two's complement byte string: trailing
// bytes that only repeat the sign are dropped. Returns the new length (>= 1
// unless the input is empty).
std::size_t minimal_length(std::span<const std::uint8_t> le);

// The value of little-endian two's complement bytes as int64, if it fits.
std::optional<std::int64_t> twos_complement_to_int64(std::span<const std::uint8_t> le);

// Decimal text of little-endian two's complement bytes. Quadratic in the
// length: callers bound it.
std::string twos_complement_to_decimal(std::span<const std::uint8_t> le);

}  // namespace pickleguard::bigint
