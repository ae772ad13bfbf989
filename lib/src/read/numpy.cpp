// numpy .npy files (and the members of an .npz, which scan_zip hands here).
//
// Layout as numpy/lib/format.py writes it: "\x93NUMPY", major, minor, the
// header length (2 bytes in version 1, 4 in versions 2 and 3), then a Python
// dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}. numpy
// reads it with ast.literal_eval; we parse the same small literal grammar
// ourselves (never eval, no recursion: containers are kept on an explicit
// stack). A dtype holding objects means pickle.load follows the header;
// otherwise exactly prod(shape) * itemsize raw bytes do.
#include "decode/text_strings.hpp"
#include "read/container_scan.hpp"

#include <algorithm>
#include <limits>

namespace pickleguard::read {
namespace {

struct literal {
    enum class kind : std::uint8_t { dict, list, tuple, str, integer, boolean, none } k = kind::none;
    std::string text;
    std::int64_t number = 0;
    std::vector<std::size_t> items;  // dict: key, value, key, value...
    bool trailing_comma = false;     // a 1-item "(x)" without it is just x
};

// The literal subset numpy writes: dicts, lists, tuples, str, int, True,
// False, None. Returns the node list with the root first, or an error text.
class literal_parser {
public:
    explicit literal_parser(std::string_view s) : s_(s) {}

    std::optional<std::string> parse() {
        nodes_.push_back({});  // root placeholder, replaced by the first value
        std::vector<std::size_t> open;  // containers being filled
        bool have_root = false;
        while (true) {
            skip_space();
            if (pos_ >= s_.size()) break;
            char c = s_[pos_];
            if (c == ',' || c == ':') {
                if (open.empty()) return "unexpected '" + std::string(1, c) + "'";
                if (c == ',') nodes_[open.back()].trailing_comma = true;
                ++pos_;
                continue;
            }
            if (c == '}' || c == ']' || c == ')') {
                if (open.empty()) return "unbalanced '" + std::string(1, c) + "'";
                literal& top = nodes_[open.back()];
                char want = top.k == literal::kind::dict ? '}' : top.k == literal::kind::list ? ']' : ')';
                if (c != want) return "mismatched '" + std::string(1, c) + "'";
                if (top.k == literal::kind::dict && top.items.size() % 2) return "dict key without a value";
                ++pos_;
                open.pop_back();
                continue;
            }
            if (open.empty() && have_root) return "text after the literal";
            if (nodes_.size() > 100000) return "literal too large";
            literal v;
            if (c == '{' || c == '[' || c == '(') {
                v.k = c == '{' ? literal::kind::dict : c == '[' ? literal::kind::list : literal::kind::tuple;
                ++pos_;
            } else if (c == '\'' || c == '"') {
                v.k = literal::kind::str;
                if (auto e = read_string(v.text)) return e;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                v.k = literal::kind::integer;
                if (auto e = read_int(v.number)) return e;
            } else if (word("True")) {
                v.k = literal::kind::boolean;
                v.number = 1;
            } else if (word("False")) {
                v.k = literal::kind::boolean;
            } else if (word("None")) {
                v.k = literal::kind::none;
            } else {
                return "unexpected character '" + std::string(1, c) + "'";
            }
            bool is_container = v.k == literal::kind::dict || v.k == literal::kind::list || v.k == literal::kind::tuple;
            std::size_t index;
            if (!have_root) {
                nodes_[0] = std::move(v);
                index = 0;
                have_root = true;
            } else {
                if (open.empty()) return "text after the literal";
                index = nodes_.size();
                nodes_.push_back(std::move(v));
                nodes_[open.back()].items.push_back(index);
                nodes_[open.back()].trailing_comma = false;
            }
            if (is_container) open.push_back(index);
        }
        if (!have_root) return "empty header";
        if (!open.empty()) return "unclosed container";
        return std::nullopt;
    }

    // A parenthesised single value without a comma is the value itself.
    const literal& get(std::size_t i) const {
        while (nodes_[i].k == literal::kind::tuple && nodes_[i].items.size() == 1 && !nodes_[i].trailing_comma)
            i = nodes_[i].items[0];
        return nodes_[i];
    }
    std::size_t resolve(std::size_t i) const {
        while (nodes_[i].k == literal::kind::tuple && nodes_[i].items.size() == 1 && !nodes_[i].trailing_comma)
            i = nodes_[i].items[0];
        return i;
    }

private:
    void skip_space() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
    }
    bool word(std::string_view w) {
        if (s_.substr(pos_, w.size()) != w) return false;
        pos_ += w.size();
        return true;
    }
    std::optional<std::string> read_int(std::int64_t& out) {
        bool neg = s_[pos_] == '-';
        if (neg) ++pos_;
        std::size_t start = pos_;
        std::uint64_t v = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            if (v > (std::uint64_t{1} << 62)) return "integer too large";
            v = v * 10 + static_cast<std::uint64_t>(s_[pos_++] - '0');
        }
        if (pos_ < s_.size() && s_[pos_] == 'L') ++pos_;  // Python 2 headers
        if (pos_ == start) return "bad integer";
        out = neg ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
        return std::nullopt;
    }
    std::optional<std::string> read_string(std::string& out) {
        char quote = s_[pos_++];
        while (pos_ < s_.size() && s_[pos_] != quote) {
            char c = s_[pos_++];
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ >= s_.size()) break;
            char e = s_[pos_++];
            int hex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
            if (hex) {
                if (pos_ + hex > s_.size()) return "short escape";
                std::uint32_t cp = 0;
                for (int k = 0; k < hex; ++k) {
                    char h = s_[pos_++];
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) return "bad escape";
                    cp = cp * 16 + static_cast<std::uint32_t>(d);
                }
                text::append_code_point(out, cp);
            } else {
                out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e);
            }
        }
        if (pos_ >= s_.size()) return "unterminated string";
        ++pos_;
        return std::nullopt;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::vector<literal> nodes_;
};

struct dtype_size {
    std::uint64_t itemsize = 0;
    bool has_object = false;
};

// One type string: '<f8', '|O', '<U5' (4 bytes a character), '|S3', '|V16', '<M8[ns]'.
std::optional<dtype_size> simple_dtype(std::string_view t) {
    if (!t.empty() && (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=')) t.remove_prefix(1);
    if (t.empty()) return std::nullopt;
    char code = t[0];
    dtype_size d;
    if (code == 'O') {
        d.has_object = true;
        d.itemsize = 8;
        return d;
    }
    if (code == '?') {
        d.itemsize = 1;
        return d;
    }
    std::uint64_t n = 0;
    std::size_t i = 1;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9' && n < (std::uint64_t{1} << 40); ++i) n = n * 10 + (t[i] - '0');
    if (i == 1) return std::nullopt;
    d.itemsize = code == 'U' ? n * 4 : n;
    return d;
}

// A descr: a type string, or a structured list of (name, descr[, shape]),
// lists nested in lists. Walked with an explicit stack.
std::optional<dtype_size> descr_size(const literal_parser& lp, std::size_t root) {
    const literal& r = lp.get(root);
    if (r.k == literal::kind::str) return simple_dtype(r.text);
    if (r.k != literal::kind::list) return std::nullopt;
    struct frame {
        std::size_t list, next = 0;
        std::uint64_t size = 0, multiplier = 1;
    };
    std::vector<frame> stack{{lp.resolve(root)}};
    dtype_size out;
    std::uint64_t finished = 0;
    constexpr std::uint64_t kMax = std::uint64_t{1} << 50;
    while (!stack.empty()) {
        frame& f = stack.back();
        const literal& list = lp.get(f.list);
        if (f.next == list.items.size()) {
            finished = f.size;
            std::uint64_t mult = f.multiplier;
            stack.pop_back();
            if (finished > kMax / std::max<std::uint64_t>(mult, 1)) return std::nullopt;
            if (stack.empty()) out.itemsize = finished * mult;
            else stack.back().size += finished * mult;
            continue;
        }
        const literal& field = lp.get(list.items[f.next++]);
        if (field.k != literal::kind::tuple || field.items.size() < 2 || field.items.size() > 3) return std::nullopt;
        std::uint64_t mult = 1;
        if (field.items.size() == 3) {
            const literal& shape = lp.get(field.items[2]);
            if (shape.k == literal::kind::integer) mult = static_cast<std::uint64_t>(std::max<std::int64_t>(shape.number, 0));
            else if (shape.k == literal::kind::tuple) {
                for (std::size_t dim : shape.items) {
                    const literal& n = lp.get(dim);
                    if (n.k != literal::kind::integer || n.number < 0) return std::nullopt;
                    if (n.number && mult > kMax / static_cast<std::uint64_t>(n.number)) return std::nullopt;
                    mult *= static_cast<std::uint64_t>(n.number);
                }
            } else {
                return std::nullopt;
            }
        }
        const literal& type = lp.get(field.items[1]);
        if (type.k == literal::kind::str) {
            auto d = simple_dtype(type.text);
            if (!d || (d->itemsize && mult > kMax / d->itemsize)) return std::nullopt;
            out.has_object |= d->has_object;
            stack.back().size += d->itemsize * mult;
        } else if (type.k == literal::kind::list) {
            if (stack.size() > 64) return std::nullopt;  // numpy's own nesting limit is far below this
            stack.push_back({lp.resolve(field.items[1]), 0, 0, mult});
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace

void scan_npy(scan_context& ctx, bytes_view b, const std::string& member) {
    auto corrupt = [&](const std::string& why) {
        ctx.add("container-corrupt", severity::high,
                "not a valid .npy file (" + why + "); numpy.load would refuse it, and nothing in it was checked", member);
    };
    if (b.size() < 10) return corrupt("short header");
    unsigned major = static_cast<unsigned>(b[6]);
    std::size_t header_len, header_at;
    if (major == 1) {
        header_len = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8;
        header_at = 10;
    } else if (major == 2 || major == 3) {
        if (b.size() < 12) return corrupt("short header");
        header_len = 0;
        for (int k = 3; k >= 0; --k) header_len = header_len << 8 | static_cast<std::size_t>(b[8 + k]);
        header_at = 12;
    } else {
        return corrupt("unknown format version " + std::to_string(major));
    }
    if (header_len > b.size() - header_at) return corrupt("header runs past the end");
    literal_parser lp(text_of(b.subspan(header_at, header_len)));
    if (auto e = lp.parse()) return corrupt("header: " + *e);
    const literal& dict = lp.get(0);
    if (dict.k != literal::kind::dict) return corrupt("header is not a dict");
    std::optional<std::size_t> descr, shape, fortran;
    for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
        const literal& key = lp.get(dict.items[i]);
        if (key.k != literal::kind::str) return corrupt("header key is not a str");
        if (key.text == "descr") descr = dict.items[i + 1];
        else if (key.text == "shape") shape = dict.items[i + 1];
        else if (key.text == "fortran_order") fortran = dict.items[i + 1];
        else return corrupt("unexpected header key '" + key.text + "'");
    }
    if (!descr || !shape || !fortran) return corrupt("header lacks descr, fortran_order or shape");
    auto dtype = descr_size(lp, *descr);
    if (!dtype) return corrupt("descr is not a dtype numpy writes");
    const std::size_t data_at = header_at + header_len;
    bytes_view data = b.subspan(data_at);
    if (dtype->has_object) {
        // numpy.load(allow_pickle=True): pickle.load on the rest of the file.
        scan_pickle_stream(data, ctx.p, ctx.kb, ctx.options, join_member(member, "object array"), ctx.report);
        return;
    }
    const literal& dims = lp.get(*shape);
    std::uint64_t count = 1;
    if (dims.k == literal::kind::integer) {
        count = static_cast<std::uint64_t>(std::max<std::int64_t>(dims.number, 0));  // numpy accepts a bare int
    } else if (dims.k == literal::kind::tuple) {
        for (std::size_t d : dims.items) {
            const literal& n = lp.get(d);
            if (n.k != literal::kind::integer || n.number < 0) return corrupt("shape is not a tuple of sizes");
            if (n.number && count > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(n.number))
                return corrupt("shape overflows");
            count *= static_cast<std::uint64_t>(n.number);
        }
    } else {
        return corrupt("shape is not a tuple");
    }
    if (dtype->itemsize && count > std::numeric_limits<std::uint64_t>::max() / dtype->itemsize)
        return corrupt("array size overflows");
    std::uint64_t expected = count * dtype->itemsize;
    if (data.size() < expected) {
        ctx.add("npy-size-mismatch", severity::high,
                "the header describes " + std::to_string(expected) + " bytes of array data but only " +
                    std::to_string(data.size()) + " follow; numpy.load would fail",
                member, data_at);
    } else if (data.size() > expected) {
        ctx.add("npy-size-mismatch", severity::medium,
                std::to_string(data.size() - expected) + " bytes follow the array data that numpy.load never reads; "
                "bytes no loader accounts for are where payloads hide. A pickle there is scanned too",
                member, data_at + expected);
        bytes_view extra = data.subspan(static_cast<std::size_t>(expected));
        if (starts_like_pickle(extra))
            scan_pickle_stream(extra, ctx.p, ctx.kb, ctx.options, join_member(member, "after the array"), ctx.report);
    }
}

}  // namespace pickleguard::read
