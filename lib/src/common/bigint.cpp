#include "bigint.hpp"

#include <algorithm>

namespace pickleguard::bigint {

void mul_add(magnitude& m, std::uint32_t mul, std::uint32_t add) {
    std::uint64_t carry = add;
    for (std::uint32_t& limb : m.limbs) {
        std::uint64_t v = static_cast<std::uint64_t>(limb) * mul + carry;
        limb = static_cast<std::uint32_t>(v);
        carry = v >> 32;
    }
    if (carry) m.limbs.push_back(static_cast<std::uint32_t>(carry));
}

std::optional<std::int64_t> to_int64(const magnitude& m) {
    if (m.limbs.size() > 2) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = m.limbs.size(); i-- > 0;) v = (v << 32) | m.limbs[i];
    if (!m.negative) {
        if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
        return static_cast<std::int64_t>(v);
    }
    if (v > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<std::int64_t>(0 - v);
}

std::string to_twos_complement(const magnitude& m) {
    std::string out;
    out.reserve(m.limbs.size() * 4 + 1);
    for (std::uint32_t limb : m.limbs)
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((limb >> (8 * i)) & 0xff));
    out.push_back('\0');  // room for the sign
    if (m.negative) {
        bool carry = true;
        for (char& c : out) {
            unsigned v = static_cast<unsigned char>(~static_cast<unsigned char>(c)) + (carry ? 1u : 0u);
            c = static_cast<char>(v & 0xff);
            carry = v > 0xff;
        }
    }
    auto span = std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
    out.resize(minimal_length(span));
    return out;
}

std::size_t minimal_length(std::span<const std::uint8_t> le) {
    std::size_t n = le.size();
    while (n > 1) {
        std::uint8_t top = le[n - 1], next = le[n - 2];
        if ((top == 0x00 && !(next & 0x80)) || (top == 0xff && (next & 0x80))) --n;
        else break;
    }
    return n;
}

std::optional<std::int64_t> twos_complement_to_int64(std::span<const std::uint8_t> le) {
    if (le.empty()) return 0;
    std::size_t n = minimal_length(le);
    if (n > 8) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(le[i]) << (8 * i);
    if (n < 8 && (le[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<std::int64_t>(v);
}

std::string twos_complement_to_decimal(std::span<const std::uint8_t> le) {
    if (le.empty()) return "0";
    bool negative = (le.back() & 0x80) != 0;
    // magnitude bytes
    std::vector<std::uint8_t> mag(le.begin(), le.end());
    if (negative) {
        bool carry = true;
        for (std::uint8_t& b : mag) {
            unsigned v = static_cast<std::uint8_t>(~b) + (carry ? 1u : 0u);
            b = static_cast<std::uint8_t>(v & 0xff);
            carry = v > 0xff;
        }
    }
    std::vector<std::uint32_t> limbs((mag.size() + 3) / 4, 0);
    for (std::size_t i = 0; i < mag.size(); ++i) limbs[i / 4] |= static_cast<std::uint32_t>(mag[i]) << (8 * (i % 4));
    while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
    std::string digits;
    // Repeated division by 10^9 from the top limb down.
    while (!limbs.empty()) {
        std::uint64_t rem = 0;
        for (std::size_t i = limbs.size(); i-- > 0;) {
            std::uint64_t cur = (rem << 32) | limbs[i];
            limbs[i] = static_cast<std::uint32_t>(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
        for (int k = 0; k < 9; ++k) {
            digits.push_back(static_cast<char>('0' + rem % 10));
            rem /= 10;
            if (limbs.empty() && rem == 0) break;
        }
    }
    if (digits.empty()) digits = "0";
    if (negative) digits.push_back('-');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

}  // namespace pickleguard::bigint
