// The value graph as JSON (format in pickleguard/json.hpp).
//
// Written by hand rather than through a JSON library: the graph can be
// millions of nodes deep or wide, share subtrees exponentially and contain
// cycles, so it is streamed from an explicit stack with $id/$ref for shared
// nodes. A DOM library would recurse (and free recursively) on the way.
#include "pickleguard/json.hpp"

#include "../common/bigint.hpp"
#include "../common/utf8.hpp"

#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>

#include <charconv>
#include <cmath>
#include <vector>

namespace pickleguard {
namespace {

constexpr std::size_t kMaxDecimalIntBytes = 8192;

std::string base64(std::string_view bytes) {
    using namespace boost::archive::iterators;
    using encoder = base64_from_binary<transform_width<const char*, 6, 8>>;
    std::string out(encoder(bytes.data()), encoder(bytes.data() + bytes.size()));
    out.append((3 - bytes.size() % 3) % 3, '=');
    return out;
}

bool is_trackable(value_kind k) {
    switch (k) {
        case value_kind::list: case value_kind::tuple: case value_kind::dict: case value_kind::set:
        case value_kind::frozenset: case value_kind::bytearray: case value_kind::memoryview:
            return true;
        default:
            return is_symbolic(k);
    }
}

struct view {
    const value_graph& g;

    // The values a node's JSON contains, in writing order.
    template <class F>
    void for_each_child(value_ref v, F&& f) const {
        for (value_ref x : g.items(v)) f(x);
        if (const applied_ops* ops = g.applied(v)) {
            for (value_ref x : ops->states) f(x);
            for (value_ref x : ops->appended) f(x);
            for (value_ref x : ops->setitems) f(x);
            for (value_ref x : ops->added) f(x);
        }
    }
};

class writer {
public:
    writer(const value_graph& g, const std::function<void(std::string_view)>& sink, const json_options& opt)
        : v_{g}, g_(g), sink_(sink), opt_(opt) {}

    result<void> run(value_ref root) {
        count_visits(root);
        ids_.assign(g_.node_count(), kNoId);
        emit(root);
        while (!frames_.empty() && !failed_) step();
        if (failed_) return fail_error();
        flush();
        return boost::outcome_v2::success();
    }

private:
    static constexpr std::uint32_t kNoId = ~0u;

    // One partly written JSON array (or a literal): prefix, items, suffix.
    struct frame {
        std::string_view prefix;
        const value_ref* items = nullptr;
        std::size_t count = 0;
        std::size_t next = 0;
        bool pairs = false;       // items are k, v, k, v: write [k, v] entries
        bool started = false;
        bool in_pair = false;     // pairs: between k and v
        std::string_view suffix;
    };

    error fail_error() const {
        error e;
        e.kind = error_kind::limit;
        e.reason = "limit: JSON output larger than max_json_bytes";
        return e;
    }

    void count_visits(value_ref root) {
        visits_.assign(g_.node_count(), 0);
        std::vector<value_ref> todo{root};
        while (!todo.empty()) {
            value_ref v = todo.back();
            todo.pop_back();
            if (v.is_small_int() || !is_trackable(g_.kind(v))) continue;
            std::uint8_t& n = visits_[v.index()];
            if (n < 2) ++n;
            if (n > 1) continue;
            v_.for_each_child(v, [&](value_ref c) { todo.push_back(c); });
        }
    }

    void write(std::string_view s) {
        written_ += s.size();
        if (written_ > opt_.max_bytes) {
            failed_ = true;
            return;
        }
        buf_.append(s);
        if (buf_.size() >= (1u << 16)) flush();
    }
    void flush() {
        if (!buf_.empty()) sink_(buf_);
        buf_.clear();
    }

    void push_frame(std::string_view prefix, std::span<const value_ref> items, std::string_view suffix,
                    bool pairs = false) {
        frame f;
        f.prefix = prefix;
        f.items = items.data();
        f.count = items.size();
        f.pairs = pairs;
        f.suffix = suffix;
        frames_.push_back(f);
    }
    void push_literal(std::string_view s) { push_frame(s, {}, {}); }

    void step() {
        frame& f = frames_.back();
        if (!f.started) {
            f.started = true;
            write(f.prefix);
        }
        if (f.next == f.count) {
            std::string_view suffix = f.suffix;
            frames_.pop_back();
            write(suffix);
            return;
        }
        value_ref item = f.items[f.next];
        if (f.pairs) {
            if (!f.in_pair) {
                write(f.next == 0 ? "[" : ", [");
                f.in_pair = true;
            } else {
                write(", ");
            }
            ++f.next;
            if (f.next % 2 == 0) {
                f.in_pair = false;
                push_literal("]");  // closes this pair after the value
            }
        } else {
            if (f.next > 0) write(", ");
            ++f.next;
        }
        emit(item);  // may push frames above f: never touch `f` after this
    }

    // JSON numbers only up to 2^53, where every reader still reads them exactly.
    void write_int(std::int64_t i) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
        std::string_view digits(buf, static_cast<std::size_t>(end - buf));
        if (i > (std::int64_t{1} << 53) || i < -(std::int64_t{1} << 53)) {
            write("{\"$int\": \"");
            write(digits);
            write("\"}");
        } else {
            write(digits);
        }
    }

    void write_scalar(value_ref v) {
        char buf[64];
        switch (g_.kind(v)) {
            case value_kind::none: write("null"); return;
            case value_kind::boolean: write(g_.as_bool(v) ? "true" : "false"); return;
            case value_kind::integer:
                write_int(g_.as_int(v));
                return;
            case value_kind::big_integer: {
                auto le = g_.big_int_bytes(v);
                if (le.size() <= kMaxDecimalIntBytes) {
                    write("{\"$int\": \"");
                    write(bigint::twos_complement_to_decimal(le));
                    write("\"}");
                } else {
                    write("{\"$int_hex\": \"");
                    write(hex_of(le));
                    write("\"}");
                }
                return;
            }
            case value_kind::floating: {
                double d = g_.as_float(v);
                if (std::isnan(d)) { write("{\"$float\": \"nan\"}"); return; }
                if (std::isinf(d)) { write(d > 0 ? "{\"$float\": \"inf\"}" : "{\"$float\": \"-inf\"}"); return; }
                auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
                std::string_view s(buf, static_cast<std::size_t>(end - buf));
                write(s);
                if (s.find_first_of(".e") == std::string_view::npos) write(".0");
                return;
            }
            case value_kind::str:
                write(json_string_literal(g_.text(v)));
                return;
            case value_kind::bytes:
                write("{\"$bytes\": \"");
                write(base64(g_.text(v)));
                write("\"}");
                return;
            default:
                return;
        }
    }

    static std::string hex_of(std::span<const std::uint8_t> le) {
        // sign and magnitude in hex, like Python's hex()
        bool negative = !le.empty() && (le.back() & 0x80);
        std::vector<std::uint8_t> mag(le.begin(), le.end());
        if (negative) {
            bool carry = true;
            for (auto& b : mag) {
                unsigned x = static_cast<std::uint8_t>(~b) + (carry ? 1u : 0u);
                b = static_cast<std::uint8_t>(x);
                carry = x > 0xff;
            }
        }
        while (mag.size() > 1 && mag.back() == 0) mag.pop_back();
        static const char* digits = "0123456789abcdef";
        std::string s = negative ? "-0x" : "0x";
        bool leading = true;
        for (std::size_t i = mag.size(); i-- > 0;) {
            for (int shift : {4, 0}) {
                int d = (mag[i] >> shift) & 0xf;
                if (leading && d == 0 && !(i == 0 && shift == 0)) continue;
                leading = false;
                s.push_back(digits[d]);
            }
        }
        return s;
    }

    void emit(value_ref v) {
        if (v.is_small_int()) {
            write_int(v.small_value());
            return;
        }
        value_kind k = g_.kind(v);
        if (!is_trackable(k)) {
            write_scalar(v);
            return;
        }
        std::uint32_t idx = v.index();
        if (visits_[idx] > 1) {
            if (ids_[idx] != kNoId) {
                write("{\"$ref\": " + std::to_string(ids_[idx]) + "}");
                return;
            }
            ids_[idx] = next_id_++;
            write("{\"$id\": " + std::to_string(ids_[idx]) + ", \"$value\": ");
            push_literal("}");
        }
        write_body(v, k);
    }

    // Writes the opening of a trackable node and pushes frames for the rest.
    void write_body(value_ref v, value_kind k) {
        auto items = g_.items(v);
        switch (k) {
            case value_kind::list: push_frame("[", items, "]"); return;
            case value_kind::tuple: push_frame("{\"$tuple\": [", items, "]}"); return;
            case value_kind::set: push_frame("{\"$set\": [", items, "]}"); return;
            case value_kind::frozenset: push_frame("{\"$frozenset\": [", items, "]}"); return;
            case value_kind::dict: push_frame("{\"$dict\": [", items, "]}", /*pairs=*/true); return;
            case value_kind::bytearray:
                write("{\"$bytearray\": \"" + base64(g_.text(v)) + "\"}");
                return;
            case value_kind::memoryview:
                write("{\"$memoryview\": \"" + base64(g_.text(v)) + "\"}");
                return;
            default:
                break;
        }
        // Symbolic node: its own key, then what the stream applied to it.
        // Frames are pushed in reverse writing order.
        push_literal("}");
        if (const applied_ops* ops = g_.applied(v)) {
            if (!ops->added.empty()) push_frame(", \"$add\": [", ops->added, "]");
            if (!ops->setitems.empty()) push_frame(", \"$setitem\": [", ops->setitems, "]", /*pairs=*/true);
            if (!ops->appended.empty()) push_frame(", \"$append\": [", ops->appended, "]");
            if (ops->states.size() == 1) push_frame(", \"$state\": ", ops->states, "");
            else if (ops->states.size() > 1) push_frame(", \"$states\": [", ops->states, "]");
            if (ops->readonly) push_literal(", \"$readonly\": true");
        }
        switch (k) {
            case value_kind::global: {
                const global_name& gn = g_.global(v);
                std::string name = std::string(gn.module) + "." + std::string(gn.name);
                std::string raw = std::string(gn.raw_module) + "." + std::string(gn.raw_name);
                std::string head = "{\"$global\": " + json_string_literal(name);
                if (raw != name) head += ", \"$raw\": " + json_string_literal(raw);
                write(head);
                return;
            }
            case value_kind::reduce: push_frame("{\"$reduce\": [", items, "]"); return;
            case value_kind::newobj: push_frame("{\"$new\": [", items, "]"); return;
            case value_kind::persid: push_frame("{\"$persid\": ", items, ""); return;
            case value_kind::ext: write("{\"$ext\": " + std::to_string(g_.ext_code(v))); return;
            case value_kind::buffer: write("{\"$buffer\": null"); return;
            default: write("{\"$unknown\": null"); return;
        }
    }

    view v_;
    const value_graph& g_;
    const std::function<void(std::string_view)>& sink_;
    const json_options& opt_;
    std::vector<std::uint8_t> visits_;
    std::vector<std::uint32_t> ids_;
    std::uint32_t next_id_ = 0;
    std::vector<frame> frames_;
    std::string buf_;
    std::uint64_t written_ = 0;
    bool failed_ = false;
};

}  // namespace

std::string json_string_literal(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    static const char* hex = "0123456789abcdef";
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        } else if (c == 0xed && i + 2 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xe0) == 0xa0) {
            // A surrogate code point: valid JSON only as an escape.
            std::size_t j = i;
            std::uint32_t cp = text::next_code_point(s, j);
            out += "\\u";
            for (int shift : {12, 8, 4, 0}) out.push_back(hex[(cp >> shift) & 0xf]);
            i = j - 1;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
    return out;
}

result<void> write_value_json(const value_graph& graph, value_ref root,
                              const std::function<void(std::string_view)>& sink, const json_options& options) {
    writer w(graph, sink, options);
    return w.run(root);
}

result<std::string> to_json(const value_graph& graph, value_ref root, const json_options& options) {
    std::string out;
    auto r = write_value_json(graph, root, [&](std::string_view s) { out.append(s); }, options);
    if (!r) return r.error();
    return out;
}

}  // namespace pickleguard
