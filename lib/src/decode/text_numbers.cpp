#include "text_numbers.hpp"

#include "../common/bigint.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace pickleguard::text {
namespace {

error bad(std::string reason, error_kind kind = error_kind::malformed) {
    error e;
    e.kind = kind;
    e.reason = std::move(reason);
    return e;
}

// C's isspace in the "C" locale, which is also CPython's Py_ISSPACE.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// The part of a line C string functions see: up to the first NUL byte.
std::string_view c_string(std::string_view s) {
    std::size_t nul = s.find('\0');
    return nul == std::string_view::npos ? s : s.substr(0, nul);
}

struct strtol_result {
    std::int64_t value = 0;
    std::size_t end = 0;  // index of the first unparsed byte, 0 when nothing parsed
    bool overflow = false;
};

// glibc's strtol(s, &end, 0) for 64-bit long, in the "C" locale.
strtol_result c_strtol_base0(std::string_view s) {
    strtol_result r;
    std::size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    int base = 10;
    if (i < s.size() && s[i] == '0') {
        if (i + 2 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') && digit_value(s[i + 2]) < 16) {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    std::uint64_t acc = 0;
    const std::uint64_t cutoff = negative ? static_cast<std::uint64_t>(INT64_MAX) + 1 : INT64_MAX;
    std::size_t digits_start = i;
    while (i < s.size() && digit_value(s[i]) < base) {
        unsigned d = static_cast<unsigned>(digit_value(s[i]));
        if (!r.overflow) {
            if (acc > (cutoff - d) / static_cast<unsigned>(base)) r.overflow = true;
            else acc = acc * static_cast<unsigned>(base) + d;
        }
        ++i;
    }
    if (i == digits_start) {
        r.end = 0;  // no conversion: endptr = nptr
        return r;
    }
    r.end = i;
    if (r.overflow) return r;
    r.value = negative ? static_cast<std::int64_t>(0 - acc) : static_cast<std::int64_t>(acc);
    return r;
}

// CPython's PyLong_FromString(str, NULL, base) for base 0 or 10 on a C string.
result<bigint::magnitude> py_long_from_string(std::string_view s, int base, const limits& lim) {
    const std::string invalid = "invalid literal for int() with base " + std::to_string(base);
    std::size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    bigint::magnitude m;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) m.negative = s[i++] == '-';
    auto at = [&](std::size_t k) { return k < s.size() ? s[k] : '\0'; };
    bool error_if_nonzero = false;
    if (base == 0) {
        if (at(i) != '0') base = 10;
        else if (at(i + 1) == 'x' || at(i + 1) == 'X') base = 16;
        else if (at(i + 1) == 'o' || at(i + 1) == 'O') base = 8;
        else if (at(i + 1) == 'b' || at(i + 1) == 'B') base = 2;
        else {
            base = 10;
            error_if_nonzero = true;  // "010": a C-style octal literal, invalid unless zero
        }
        if (base != 10) {
            i += 2;
            if (at(i) == '_') ++i;  // one underscore may follow the prefix
        }
    }
    if (at(i) == '_') return bad(invalid);
    std::size_t start = i, digits = 0;
    char prev = 0;
    while (digit_value(at(i)) < base || at(i) == '_') {
        if (at(i) == '_') {
            if (prev == '_') return bad(invalid);
        } else {
            ++digits;
        }
        prev = at(i);
        ++i;
    }
    if (prev == '_') return bad(invalid);
    if (i == start || digits == 0) return bad(invalid);
    if (base == 10 && digits > lim.max_decimal_int_digits)
        return bad("Exceeds the limit (" + std::to_string(lim.max_decimal_int_digits) +
                   " digits) for integer string conversion: value has " + std::to_string(digits) +
                   " digits");
    if (base != 10 && i - start > lim.max_text_int_chars)
        return bad("limit: text integer longer than max_text_int_chars (" +
                       std::to_string(lim.max_text_int_chars) + ")",
                   error_kind::limit);
    if (base == 10) {
        std::uint32_t chunk = 0, scale = 1;
        for (std::size_t k = start; k < i; ++k) {
            if (s[k] == '_') continue;
            chunk = chunk * 10 + static_cast<std::uint32_t>(s[k] - '0');
            scale *= 10;
            if (scale == 1000000000u) {
                bigint::mul_add(m, scale, chunk);
                chunk = 0;
                scale = 1;
            }
        }
        if (scale != 1) bigint::mul_add(m, scale, chunk);
    } else {
        // Powers of two: shift digits in, linear in the length.
        unsigned bits = base == 16 ? 4 : base == 8 ? 3 : 1;
        std::vector<std::uint32_t> limbs;
        std::size_t bitpos = 0;
        for (std::size_t k = i; k-- > start;) {
            if (s[k] == '_') continue;
            std::uint32_t d = static_cast<std::uint32_t>(digit_value(s[k]));
            std::size_t limb = bitpos / 32, off = bitpos % 32;
            // The digit may spill into the next limb: both must exist (a digit
            // at bit 63 of an octal literal wrote past the vector).
            if (limb + 1 >= limbs.size()) limbs.resize(limb + 2, 0);
            limbs[limb] |= d << off;
            if (off + bits > 32) limbs[limb + 1] |= d >> (32 - off);
            bitpos += bits;
        }
        m.limbs = std::move(limbs);
    }
    while (!m.limbs.empty() && m.limbs.back() == 0) m.limbs.pop_back();
    if (error_if_nonzero && !m.is_zero()) return bad("invalid literal for int() with base 0");
    while (at(i) != '\0' && is_space(at(i))) ++i;
    if (i != s.size()) return bad(invalid);
    if (m.is_zero()) m.negative = false;
    return m;
}

parsed_int from_magnitude(const bigint::magnitude& m) {
    parsed_int p;
    if (auto v = bigint::to_int64(m)) {
        p.value = *v;
    } else {
        p.small = false;
        p.twos = bigint::to_twos_complement(m);
    }
    return p;
}

}  // namespace

result<parsed_int> parse_int_line(std::string_view line, const limits& lim) {
    // load_int: strtol(s, &end, 0) first; anything it cannot take whole goes
    // to PyLong_FromString(s, NULL, 0).
    std::string_view s = c_string(line);
    strtol_result r = c_strtol_base0(s);
    char end_char = r.end < s.size() ? s[r.end] : '\0';
    if (!r.overflow && (end_char == '\n' || end_char == '\0')) {
        parsed_int p;
        p.value = r.value;
        // "len == 3" counts the '\n': any 2-byte spelling of 0 or 1 is a bool.
        p.is_bool = line.size() == 3 && (r.value == 0 || r.value == 1);
        // pickle.py's load_int takes only b"00\n" and b"01\n" for bools and
        // reads "+1", " 1", "-0"... as ints: the two readers build values of
        // different types, so the stream has no single reading.
        if (p.is_bool && line != "00\n" && line != "01\n")
            return bad("INT line is a bool for _pickle.c but an int for pickle.py (only 00 and 01 are bools to both)");
        return p;
    }
    auto m = py_long_from_string(s, 0, lim);
    if (!m) {
        if (m.error().kind == error_kind::limit || m.error().reason.starts_with("Exceeds")) return m.error();
        return bad("could not convert string to int");
    }
    return from_magnitude(m.value());
}

result<parsed_int> parse_long_line(std::string_view line, const limits& lim) {
    // load_long: a trailing 'L' before the newline is cut off with a NUL.
    std::string_view s = line;
    if (s.size() >= 2 && s[s.size() - 2] == 'L') s = s.substr(0, s.size() - 2);
    auto m = py_long_from_string(c_string(s), 0, lim);
    if (!m) return m.error();
    return from_magnitude(m.value());
}

result<std::int64_t> parse_memo_index_line(std::string_view line, const limits& lim) {
    auto m = py_long_from_string(c_string(line), 10, lim);
    if (!m) return m.error();
    auto v = bigint::to_int64(m.value());
    if (!v) return bad("Python int too large to convert to C ssize_t");
    return *v;
}

result<double> parse_float_line(std::string_view line) {
    // load_float: PyOS_string_to_double(s, &end, OverflowError), then the
    // first unparsed byte must be '\n' or NUL. No leading whitespace, no
    // underscores, no hex: that is float()'s grammar, not this one.
    std::string_view s = c_string(line);
    const error invalid = bad("could not convert string to float");
    std::size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    auto lower_eq = [&](std::size_t at, std::string_view word) {
        if (at + word.size() > s.size()) return false;
        for (std::size_t k = 0; k < word.size(); ++k)
            if ((s[at + k] | 0x20) != word[k]) return false;
        return true;
    };
    double value = 0;
    std::size_t end = 0;
    if (lower_eq(i, "inf")) {
        end = lower_eq(i, "infinity") ? i + 8 : i + 3;
        value = std::numeric_limits<double>::infinity();
    } else if (lower_eq(i, "nan")) {
        end = i + 3;
        value = std::numeric_limits<double>::quiet_NaN();
    } else {
        std::size_t mant_start = i, digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
        if (i < s.size() && s[i] == '.') {
            ++i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
        }
        if (digits == 0) return invalid;
        end = i;
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
            std::size_t j = i + 1;
            if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
            std::size_t exp_start = j;
            while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
            if (j > exp_start) end = j;
        }
        std::string_view number = s.substr(mant_start, end - mant_start);
        auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (ec == std::errc::result_out_of_range) {
            // from_chars leaves `value` alone; tell overflow from underflow by
            // the decimal exponent of the first significant digit.
            std::int64_t exp10 = 0;
            std::size_t e = number.find_first_of("eE");
            std::string_view mant = number.substr(0, e);
            if (e != std::string_view::npos) {
                std::string_view ex = number.substr(e + 1);
                bool eneg = !ex.empty() && ex[0] == '-';
                if (!ex.empty() && (ex[0] == '+' || ex[0] == '-')) ex.remove_prefix(1);
                for (char c : ex) {
                    if (exp10 < 100000000) exp10 = exp10 * 10 + (c - '0');
                }
                if (eneg) exp10 = -exp10;
            }
            std::size_t dot = mant.find('.');
            std::size_t int_digits = dot == std::string_view::npos ? mant.size() : dot;
            std::size_t first_nz = mant.find_first_not_of("0.");
            std::int64_t position = first_nz == std::string_view::npos
                                        ? -1000000000
                                        : (first_nz < int_digits ? static_cast<std::int64_t>(int_digits - first_nz)
                                                                 : -static_cast<std::int64_t>(first_nz - int_digits - 1));
            if (position + exp10 > 0) return bad("value too large to convert to float");
            value = 0.0;
        } else if (ec != std::errc() || ptr != number.data() + number.size()) {
            return invalid;
        }
        if (std::isinf(value)) return bad("value too large to convert to float");
    }
    char end_char = end < s.size() ? s[end] : '\0';
    if (end_char != '\n' && end_char != '\0') return invalid;
    return negative ? -value : value;
}

}  // namespace pickleguard::text
