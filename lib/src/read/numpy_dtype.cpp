// numpy dtypes from header descriptors (see numpy_dtype.hpp).
#include "read/numpy_dtype.hpp"

#include "common/utf8.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace pickleguard::read {
namespace {

constexpr std::uint64_t kMaxInt = std::numeric_limits<std::int32_t>::max();  // NPY_MAX_INT: numpy's itemsize is a C int
constexpr std::size_t kMaxDims = 32;                                          // NPY_MAXDIMS
constexpr std::size_t kMaxNesting = 64;

error fail(error_kind k, std::string why) { return error{k, error::no_offset, error::no_opcode, std::move(why)}; }
error rejected(std::string why) { return fail(error_kind::malformed, "numpy.dtype raises: " + std::move(why)); }
error refused(std::string why) { return fail(error_kind::unsupported, std::move(why)); }

dtype_info scalar(char kind, std::uint64_t size, std::uint32_t alignment) {
    dtype_info d;
    d.kind = kind;
    d.itemsize = size;
    d.alignment = alignment;
    d.has_object = kind == 'O';
    return d;
}

// Type characters, as PyArray_DescrFromType maps them (x86-64 Linux: long is
// 8 bytes, long double 16).
std::optional<dtype_info> from_type_char(char c) {
    switch (c) {
        case '?': return scalar('b', 1, 1);
        case 'b': return scalar('i', 1, 1);
        case 'B': return scalar('u', 1, 1);
        case 'h': return scalar('i', 2, 2);
        case 'H': return scalar('u', 2, 2);
        case 'i': return scalar('i', 4, 4);
        case 'I': return scalar('u', 4, 4);
        case 'l': case 'q': case 'p': return scalar('i', 8, 8);
        case 'L': case 'Q': case 'P': return scalar('u', 8, 8);
        case 'e': return scalar('f', 2, 2);
        case 'f': return scalar('f', 4, 4);
        case 'd': return scalar('f', 8, 8);
        case 'g': return scalar('f', 16, 16);
        case 'F': return scalar('c', 8, 4);
        case 'D': return scalar('c', 16, 8);
        case 'G': return scalar('c', 32, 16);
        case 'O': return scalar('O', 8, 8);
        case 'M': return scalar('M', 8, 8);
        case 'm': return scalar('m', 8, 8);
        case 'c': return scalar('S', 1, 1);  // NPY_CHARLTR: 'S1'
        case 'S': case 'a': case 'U': case 'V': {
            dtype_info d = scalar(c == 'a' ? 'S' : c, 0, c == 'U' ? 4 : 1);
            d.unsized = true;
            return d;
        }
        default: return std::nullopt;
    }
}

// PyArray_TypestrConvert: kind + size ('f8', 'c16', 'b1', 'O8').
std::optional<dtype_info> from_kind_size(char kind, std::uint64_t size) {
    auto pow2 = [&](std::initializer_list<std::uint64_t> ok) { return std::find(ok.begin(), ok.end(), size) != ok.end(); };
    switch (kind) {
        case 'b': if (size == 1) return scalar('b', 1, 1); break;
        case 'i': if (pow2({1, 2, 4, 8})) return scalar('i', size, static_cast<std::uint32_t>(size)); break;
        case 'u': if (pow2({1, 2, 4, 8})) return scalar('u', size, static_cast<std::uint32_t>(size)); break;
        case 'f': if (pow2({2, 4, 8, 16})) return scalar('f', size, static_cast<std::uint32_t>(size)); break;
        case 'c': if (pow2({8, 16, 32})) return scalar('c', size, static_cast<std::uint32_t>(size / 2)); break;
        case 'O': if (size == 4 || size == 8) return scalar('O', 8, 8); break;  // 'O4' is accepted for old pickles
        default: break;
    }
    return std::nullopt;
}

// numpy.sctypeDict's names (numpy 1.24), looked up with the whole string as
// _convert_from_str does ('<float64' is not a name).
std::optional<dtype_info> from_type_name(std::string_view s) {
    struct entry {
        std::string_view name;
        char code;  // a type character above
    };
    static constexpr std::array<entry, 62> kNames{{
        {"byte", 'b'}, {"ubyte", 'B'}, {"short", 'h'}, {"ushort", 'H'}, {"intc", 'i'}, {"uintc", 'I'},
        {"int", 'l'}, {"uint", 'L'}, {"intp", 'l'}, {"uintp", 'L'}, {"long", 'l'}, {"ulong", 'L'},
        {"longlong", 'q'}, {"ulonglong", 'Q'}, {"int_", 'l'}, {"int0", 'l'}, {"uint0", 'L'},
        {"int8", 'b'}, {"uint8", 'B'}, {"int16", 'h'}, {"uint16", 'H'}, {"int32", 'i'}, {"uint32", 'I'},
        {"int64", 'l'}, {"uint64", 'L'}, {"half", 'e'}, {"single", 'f'}, {"double", 'd'}, {"float", 'd'},
        {"float_", 'd'}, {"longdouble", 'g'}, {"longfloat", 'g'}, {"float16", 'e'}, {"float32", 'f'},
        {"float64", 'd'}, {"float128", 'g'}, {"csingle", 'F'}, {"singlecomplex", 'F'}, {"cfloat", 'D'},
        {"cdouble", 'D'}, {"complex", 'D'}, {"complex_", 'D'}, {"clongdouble", 'G'}, {"clongfloat", 'G'},
        {"longcomplex", 'G'}, {"complex64", 'F'}, {"complex128", 'D'}, {"complex256", 'G'}, {"bool", '?'},
        {"bool_", '?'}, {"bool8", '?'}, {"object", 'O'}, {"object_", 'O'}, {"object0", 'O'}, {"bytes", 'S'},
        {"bytes_", 'S'}, {"bytes0", 'S'}, {"string_", 'S'}, {"str", 'U'}, {"str_", 'U'}, {"unicode", 'U'},
        {"unicode_", 'U'},
    }};
    for (const entry& e : kNames)
        if (e.name == s) return from_type_char(e.code);
    if (s == "str0") return from_type_char('U');
    if (s == "void" || s == "void0") return from_type_char('V');
    if (s == "timedelta64") return from_type_char('m');
    return std::nullopt;
}

bool is_byteorder(char c) { return c == '<' || c == '>' || c == '=' || c == '|'; }

// _check_for_commastring in descriptor.c.
bool is_commastring(std::string_view t) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (digit(t[0]) || (t.size() > 1 && is_byteorder(t[0]) && digit(t[1]))) return true;
    if ((t.size() > 1 && t[0] == '(' && t[1] == ')') || (t.size() > 3 && is_byteorder(t[0]) && t[1] == '(' && t[2] == ')'))
        return true;
    int brackets = 0;
    for (char c : t) {
        if (c == ',' && brackets == 0) return true;
        if (c == '[') ++brackets;
        if (c == ']') --brackets;
    }
    return false;
}

// 'M8', 'm8[ns]', 'datetime64[25s]': is_datetime_typestr and
// parse_datetime_extended_unit_from_string, for the units numpy knows.
std::optional<result<dtype_info>> datetime(std::string_view t) {
    char kind;
    std::string_view rest;
    if (t.size() >= 2 && t[1] == '8' && (t[0] == 'M' || t[0] == 'm')) {
        kind = t[0];
        rest = t.substr(2);
    } else if (t.substr(0, 10) == "datetime64") {
        kind = 'M';
        rest = t.substr(10);
    } else if (t.substr(0, 11) == "timedelta64") {
        kind = 'm';
        rest = t.substr(11);
    } else {
        return std::nullopt;
    }
    if (!rest.empty()) {
        if (rest.size() < 3 || rest.front() != '[' || rest.back() != ']')
            return result<dtype_info>(refused("datetime unit '" + std::string(rest) + "' is not read"));
        std::string_view unit = rest.substr(1, rest.size() - 2);
        std::size_t i = 0;
        while (i < unit.size() && unit[i] >= '0' && unit[i] <= '9') ++i;
        if (i > 9) return result<dtype_info>(refused("datetime multiplier too large"));
        unit.remove_prefix(i);
        static constexpr std::array<std::string_view, 14> kUnits{"Y", "M", "W", "D", "h", "m", "s", "ms", "us",
                                                               "ns", "ps", "fs", "as", "generic"};
        if (std::find(kUnits.begin(), kUnits.end(), unit) == kUnits.end())
            return result<dtype_info>(refused("datetime unit '" + std::string(unit) + "' is not read"));
    }
    return result<dtype_info>(scalar(kind, 8, 8));
}

// _convert_from_str without the comma-string branch.
result<dtype_info> simple_type(std::string_view obj) {
    std::string_view t = obj;
    if (t.empty()) return rejected("data type '' not understood");
    for (char c : t)
        if (static_cast<unsigned char>(c) >= 0x80 || c == 0) return rejected("data type not understood (not ASCII)");
    bool had_order = is_byteorder(t[0]);
    if (had_order) t.remove_prefix(1);
    if (t.empty()) return rejected("data type '" + std::string(obj) + "' not understood");
    if (auto d = datetime(t)) return *d;
    if (t.size() == 1) {
        if (auto d = from_type_char(t[0])) return *d;
    } else {
        std::string_view digits = t.substr(1);
        bool all_digits = std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!all_digits && (digits[0] == ' ' || digits[0] == '+' || digits[0] == '-' || digits[0] == '\t'))
            // strtol would skip spaces and take a sign ('f 8' is float64, 'U-1' an itemsize of -4).
            return refused("type size '" + std::string(digits) + "' is not plain digits");
        if (all_digits) {
            if (digits.size() > 9) return refused("type size too large");
            std::uint64_t n = std::stoull(std::string(digits));
            char kind = t[0];
            if (kind == 'S' || kind == 'a' || kind == 'U' || kind == 'V') {
                auto d = from_type_char(kind);
                if (n == 0) return *d;  // 'S0' is the unsized 'S'
                d->unsized = false;
                d->itemsize = kind == 'U' ? n * 4 : n;
                return *d;
            }
            if (n != 0)
                if (auto d = from_kind_size(kind, n)) return *d;
        }
    }
    if (!had_order)
        if (auto d = from_type_name(t)) return *d;
    return rejected("data type '" + std::string(obj) + "' not understood");
}

std::uint64_t round_up(std::uint64_t v, std::uint32_t a) { return a > 1 ? (v + a - 1) / a * a : v; }

// Fields f0, f1, ... of a comma string (_convert_from_list).
result<dtype_info> packed_fields(const std::vector<dtype_info>& fields, bool align) {
    dtype_info out;
    out.kind = 'V';
    out.structured = true;
    std::uint64_t offset = 0;
    std::uint32_t max_align = 1;
    for (const dtype_info& f : fields) {
        if (align) offset = round_up(offset, f.alignment);
        offset += f.itemsize;
        max_align = std::max(max_align, f.alignment);
        out.has_object |= f.has_object;
        if (offset > kMaxInt) return refused("structured dtype larger than a C int");
    }
    if (align) {
        offset = round_up(offset, max_align);
        out.alignment = max_align;
    }
    out.itemsize = offset;
    return out;
}

// numpy/core/_internal.py _commastring, then _convert_from_commastring.
result<dtype_info> comma_string(std::string_view s, bool align) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    auto order_char = [](char c) { return c == '<' || c == '>' || c == '|' || c == '='; };
    auto type_char = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '?';
    };
    std::vector<dtype_info> items;
    std::size_t i = 0;
    while (i < s.size()) {
        // format_re: order1, repeats ' *[(]?[ ,0-9]*[)]? *', order2, dtype.
        std::string order1, order2;
        if (i < s.size() && order_char(s[i])) order1 = s[i++];
        std::size_t rep_at = i;
        while (i < s.size() && s[i] == ' ') ++i;
        if (i < s.size() && s[i] == '(') ++i;
        while (i < s.size() && (s[i] == ' ' || s[i] == ',' || (s[i] >= '0' && s[i] <= '9'))) ++i;
        if (i < s.size() && s[i] == ')') ++i;
        while (i < s.size() && s[i] == ' ') ++i;
        std::string_view repeats = s.substr(rep_at, i - rep_at);
        if (i < s.size() && order_char(s[i])) order2 = s[i++];
        std::size_t type_at = i;
        while (i < s.size() && type_char(s[i])) ++i;
        if (i < s.size() && s[i] == '[') {
            std::size_t j = i + 1;
            while (j < s.size() && (type_char(s[j]) || s[j] == ',') && s[j] != '?') ++j;
            if (j > i + 1 && j < s.size() && s[j] == ']') i = j + 1;
        }
        std::string type(s.substr(type_at, i - type_at));
        if (i < s.size()) {
            std::size_t j = i;
            while (j < s.size() && space(s[j])) ++j;
            if (j == s.size()) {
                i = j;
            } else {
                j = i;
                while (j < s.size() && space(s[j])) ++j;
                if (j >= s.size() || s[j] != ',')
                    return rejected("format number " + std::to_string(items.size() + 1) + " of \"" + std::string(s) +
                                    "\" is not recognized");
                ++j;
                while (j < s.size() && space(s[j])) ++j;
                i = j;
            }
        }
        // Byte orders: '=' means native ('<' here); two must agree.
        auto conv = [](const std::string& o) { return o == "=" ? std::string("<") : o; };
        std::string order = order2.empty() ? order1 : order1.empty() ? order2 : conv(order1);
        if (!order1.empty() && !order2.empty() && conv(order1) != conv(order2))
            return rejected("inconsistent byte-order specification");
        if (order == "|" || order == "=" || order == "<") order.clear();
        auto base = simple_type(order + type);
        if (!base) return base.error();
        if (repeats.empty()) {
            items.push_back(base.value());
            continue;
        }
        // ast.literal_eval(repeats): '2', '(2,3)', '()', ' 2 '.
        std::u32string text(repeats.begin(), repeats.end());
        auto lit = parse_py_literal(text, false);
        if (!lit) return rejected("repeat count '" + std::string(repeats) + "' is not a literal");
        auto shaped = dtype_with_shape(base.value(), lit.value(), lit.value().root);
        if (!shaped) return shaped.error();
        items.push_back(shaped.value());
    }
    if (items.empty()) return rejected("_commastring is not returning a list with len >= 1");
    if (items.size() == 1) return items[0];
    return packed_fields(items, align);
}

// Python equality, or "might be equal" when kinds could compare equal (True == 1).
bool maybe_equal(const py_tree& t, std::uint32_t a, std::uint32_t b) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> todo{{a, b}};
    using k = py_node::kind;
    auto numeric = [](k x) { return x == k::integer || x == k::boolean || x == k::floating || x == k::big_integer; };
    while (!todo.empty()) {
        auto [x, y] = todo.back();
        todo.pop_back();
        const py_node& p = t.at(x);
        const py_node& q = t.at(y);
        if (numeric(p.k) && numeric(q.k)) {
            if ((p.k == k::integer || p.k == k::boolean) && (q.k == k::integer || q.k == k::boolean) && p.number != q.number)
                return false;
            continue;
        }
        if (p.k != q.k) return false;
        if (p.k == k::str || p.k == k::bytes) {
            if (p.text != q.text) return false;
            continue;
        }
        if (p.k == k::tuple) {
            if (p.count != q.count) return false;
            for (std::uint32_t i = 0; i < p.count; ++i) todo.push_back({t.child(p, i), t.child(q, i)});
        }
    }
    return true;
}

// A field name: str, or a (title, name) tuple.
struct field_name {
    bool is_pad_name = false;  // name == ''
    std::optional<std::string> name;   // when a str
    std::optional<std::string> title;  // a str title
    bool bad = false;                  // numpy raises "field names must be strings" (or unpack errors)
    bool unsupported_title = false;
};

field_name name_of(const py_tree& t, std::uint32_t node) {
    field_name f;
    const py_node& n = t.at(node);
    if (n.k == py_node::kind::str) {
        f.name = n.text;
        f.is_pad_name = n.text.empty();
        return f;
    }
    if (n.k != py_node::kind::tuple) {
        f.bad = true;
        return f;
    }
    if (n.count != 2) {
        f.bad = true;
        return f;
    }
    const py_node& title = t.at(t.child(n, 0));
    const py_node& name = t.at(t.child(n, 1));
    if (name.k != py_node::kind::str) f.bad = true;
    else f.name = name.text;
    if (title.k == py_node::kind::str) f.title = title.text;
    else if (title.k != py_node::kind::none && title.k != py_node::kind::integer && title.k != py_node::kind::boolean)
        f.unsupported_title = true;  // other hashable titles: not followed
    return f;
}

}  // namespace

result<dtype_info> dtype_from_string(std::string_view s, bool align) {
    if (s.empty()) return rejected("data type '' not understood");
    if (is_commastring(s)) return comma_string(s, align);
    return simple_type(s);
}

result<dtype_info> dtype_with_shape(const dtype_info& base, const py_tree& t, std::uint32_t value) {
    const py_node& v = t.at(value);
    using k = py_node::kind;
    if (v.k == k::boolean) return refused("a bool as a shape or size is not read");
    if (v.k == k::big_integer) return rejected("invalid shape in fixed-type tuple: dimension does not fit into a C int");
    std::vector<std::int64_t> dims;
    bool number = v.k == k::integer;
    if (number) {
        dims.push_back(v.number);
    } else if (v.k == k::tuple) {
        for (std::uint32_t i = 0; i < v.count; ++i) {
            const py_node& d = t.at(t.child(v, i));
            if (d.k == k::boolean) return rejected("invalid shape in fixed-type tuple");
            if (d.k == k::big_integer) return rejected("invalid shape in fixed-type tuple: dimension does not fit into a C int");
            if (d.k != k::integer)
                return refused("(type, tuple) whose tuple is not all ints: a union with another dtype is not read");
            dims.push_back(d.number);
        }
    } else {
        // _try_convert_from_inherit_tuple: (base, other_dtype) unions; a list shape.
        return refused("(type, value) where value is not an int or a tuple of ints is not read");
    }
    if (base.unsized) {
        // A flexible type's size: ('S', 5) is 'S5', ('U', 3) is '<U3'.
        if (!number) return rejected("invalid itemsize in generic type tuple");
        if (v.number < 0 || static_cast<std::uint64_t>(v.number) > kMaxInt) return refused("negative or huge itemsize");
        dtype_info d = base;
        d.itemsize = static_cast<std::uint64_t>(v.number) * (base.kind == 'U' ? 4 : 1);
        d.unsized = d.itemsize == 0;
        return d;
    }
    if (!number && dims.empty()) return base;              // (type, ()) is type
    if (number && dims[0] == 1) return base;               // (type, 1): deprecated synonym of type
    if (dims.size() > kMaxDims) return rejected("invalid shape in fixed-type tuple.");
    std::uint64_t items = 1;
    for (std::int64_t d : dims) {
        if (d < 0) return rejected("invalid shape in fixed-type tuple: dimension smaller then zero.");
        if (static_cast<std::uint64_t>(d) > kMaxInt) return rejected("invalid shape in fixed-type tuple: dimension does not fit into a C int.");
        items *= static_cast<std::uint64_t>(d);
        if (items > kMaxInt) items = kMaxInt + 1;  // keeps the product bounded; still too big
    }
    if (items > kMaxInt || (base.itemsize && items > kMaxInt / base.itemsize))
        return rejected("invalid shape in fixed-type tuple: dtype size in bytes must fit into a C int.");
    dtype_info d;
    d.kind = 'V';
    d.subarray = true;
    d.itemsize = items * base.itemsize;
    d.alignment = base.alignment;
    d.has_object = base.has_object;
    return d;
}

result<dtype_info> descr_to_dtype(const py_tree& t, std::uint32_t descr) {
    using k = py_node::kind;
    // One frame per descr_to_dtype call still waiting for a nested result.
    struct frame {
        std::uint32_t node = 0;
        bool is_tuple = false;
        std::vector<std::uint32_t> elems;  // the fields iterated
        std::size_t next = 0;
        std::uint64_t offset = 0;
        bool has_object = false;
        std::vector<std::string> used;      // names and str titles so far
        field_name pending;                 // the field whose dtype is being computed
        std::optional<std::uint32_t> shape;  // its shape, for 3-item fields
    };
    std::vector<frame> stack;
    std::optional<dtype_info> ret;

    // Starts descr_to_dtype(node): either a result now, or a frame.
    auto start = [&](std::uint32_t node) -> std::optional<error> {
        const py_node& n = t.at(node);
        if (n.k == k::str) {
            auto d = dtype_from_string(n.text, false);  // numpy.dtype(descr)
            if (!d) return d.error();
            ret = d.value();
            return std::nullopt;
        }
        if (stack.size() >= kMaxNesting) return refused("descr nested too deeply");
        frame f;
        f.node = node;
        if (n.k == k::tuple) {
            if (n.count < 2) return rejected("tuple index out of range");
            f.is_tuple = true;
            f.next = 1;  // 1: descr[0] not started yet, 2: its dtype is awaited
            stack.push_back(std::move(f));
            return std::nullopt;
        }
        if (n.k == k::list || n.k == k::set) {
            for (std::uint32_t i = 0; i < n.count; ++i) f.elems.push_back(t.child(n, i));
        } else if (n.k == k::dict) {
            for (std::uint32_t i = 0; i < n.count; i += 2) f.elems.push_back(t.child(n, i));  // iterating a dict: its keys
        } else {
            return rejected(std::string("descr is not a valid dtype descriptor"));
        }
        if ((n.k == k::set || n.k == k::dict) && f.elems.size() > 1) {
            // Python folds equal keys and set items; we do not model which one stays.
            if (f.elems.size() > 1000) return refused("a dict or set descr this large is not read");
            for (std::size_t i = 0; i < f.elems.size(); ++i)
                for (std::size_t j = i + 1; j < f.elems.size(); ++j)
                    if (maybe_equal(t, f.elems[i], f.elems[j])) return refused("a dict or set descr with equal items");
        }
        stack.push_back(std::move(f));
        return std::nullopt;
    };

    if (auto e = start(descr)) return *e;
    while (!stack.empty()) {
        frame& f = stack.back();
        const py_node& n = t.at(f.node);
        if (f.is_tuple) {
            if (f.next == 1) {
                // First visit: descr_to_dtype(descr[0]).
                f.next = 2;
                std::uint32_t base = t.child(n, 0);
                std::size_t depth = stack.size();
                if (auto e = start(base)) return *e;
                if (stack.size() != depth) continue;
            }
            // numpy.dtype((dt, descr[1])); items after descr[1] are ignored.
            auto d = dtype_with_shape(*ret, t, t.child(t.at(stack.back().node), 1));
            if (!d) return d.error();
            stack.pop_back();
            ret = d.value();
            continue;
        }
        if (ret) {
            // A field's dtype arrived.
            dtype_info dt = *ret;
            ret.reset();
            if (f.shape) {
                auto d = dtype_with_shape(dt, t, *f.shape);
                if (!d) return d.error();
                dt = d.value();
                f.shape.reset();
            }
            const field_name& name = f.pending;
            // Padding: a field named '' whose type is void without fields
            // (a subarray is void too) is dropped, its bytes kept.
            bool pad = name.is_pad_name && dt.kind == 'V' && !dt.structured;
            if (!pad) {
                if (name.bad) return rejected("field names must be strings");
                if (name.unsupported_title) return refused("a field title that is not a str or an int is not read");
                if (std::find(f.used.begin(), f.used.end(), *name.name) != f.used.end())
                    return rejected("name already used as a name or title");
                f.used.push_back(*name.name);
                if (name.title) {
                    if (std::find(f.used.begin(), f.used.end(), *name.title) != f.used.end())
                        return rejected("title already used as a name or title.");
                    f.used.push_back(*name.title);
                }
                f.has_object |= dt.has_object;
            }
            f.offset += dt.itemsize;
            if (f.offset > kMaxInt) return refused("structured dtype larger than a C int");
        }
        if (f.next == f.elems.size()) {
            dtype_info d;
            d.kind = 'V';
            d.structured = true;
            d.itemsize = f.offset;
            d.has_object = f.has_object;
            stack.pop_back();
            ret = d;
            continue;
        }
        std::uint32_t e = f.elems[f.next++];
        const py_node& el = t.at(e);
        if (el.k == k::str) {
            // A 2-character string unpacks as (name, descr): 'aO' is a field 'a' of objects.
            if (el.code_points != 2) return rejected("not enough values to unpack (a str field)");
            std::size_t i = 0;
            std::uint32_t c0 = text::next_code_point(el.text, i);
            std::size_t split = i;
            f.pending = field_name{};
            f.pending.name = el.text.substr(0, split);
            f.pending.is_pad_name = false;
            (void)c0;
            auto d = dtype_from_string(el.text.substr(split), false);
            if (!d) return d.error();
            ret = d.value();
            continue;
        }
        if (el.k != k::tuple && el.k != k::list) {
            if (el.k == k::dict || el.k == k::set) return refused("a dict or set as a field is not read");
            return rejected("a field is not a sequence of 2 or 3 items");
        }
        if (el.count != 2 && el.count != 3) return rejected("a field does not unpack into 2 or 3 items");
        f.pending = name_of(t, t.child(el, 0));
        if (el.count == 3) f.shape = t.child(el, 2);
        std::uint32_t fmt = t.child(el, 1);
        if (auto err = start(fmt)) return *err;
    }
    if (!ret) return refused("descr not evaluated");
    return *ret;
}

}  // namespace pickleguard::read
