// Python literals as ast.literal_eval reads them (see py_literal.hpp).
//
// The grammar is the part of Python's expression grammar literal_eval
// accepts (Lib/ast.py): constants (str and bytes with every prefix, escape
// and implicit concatenation, int in every base with underscores, float,
// True/False/None), one unary sign on a number, tuples (with or without
// parentheses), lists, dicts, sets and set(). Tokens are separated as
// Python's tokenizer separates them: spaces and tabs, comments, backslash
// line continuations, and newlines inside brackets.
#include "read/py_literal.hpp"

#include "common/utf8.hpp"

#include <limits>
#include <optional>

namespace pickleguard::read {
namespace {

constexpr std::size_t kMaxDepth = 100;  // CPython's parser stops at 200 nested brackets; deeper is refused

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ident(char32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c >= 0x80;
}
int hex_value(char32_t c) {
    if (is_digit(c)) return static_cast<int>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
    return -1;
}

class parser {
public:
    parser(std::u32string_view s, bool drop_long) : s_(s), drop_long_(drop_long) {}

    result<py_tree> run() {
        // literal_eval strips leading spaces and tabs of the first line.
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
        for (char32_t c : s_) {
            if (c == 0) return fail(error_kind::malformed, "source code string cannot contain null bytes");
            if (c == '\r' || c == '\f' || c == '\v')
                return fail(error_kind::unsupported, "carriage returns, form feeds and vertical tabs are not read");
        }
        frames_.emplace_back();
        // Blank lines before the expression are fine; an indented first line is not.
        while (pos_ < s_.size()) {
            skip_blank();
            if (pos_ < s_.size() && s_[pos_] == '\n') {
                ++pos_;
                if (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t'))
                    return fail(error_kind::unsupported, "indented expression");
                continue;
            }
            break;
        }
        if (auto e = loop()) return *e;
        return std::move(tree_);
    }

private:
    struct frame {
        enum class kind : std::uint8_t { top, paren, list, brace } k = kind::top;
        std::vector<std::uint32_t> items{};
        bool comma = false;       // a comma was seen
        bool want_value = true;   // after an opener, a comma or a colon
        bool is_dict = false, is_set = false;
        bool want_colon = false;  // dict: a key was read, ':' must follow
        std::size_t opened_at = 0;
    };

    std::optional<error> loop() {
        while (true) {
            frame& f = frames_.back();
            skip_space(f.k != frame::kind::top);
            if (f.k == frame::kind::top && at_end_of_expression()) {
                if (f.items.empty()) return err(error_kind::malformed, "invalid syntax: no expression");
                if (f.want_value && !f.comma) return err(error_kind::malformed, "invalid syntax");
                if (auto e = trailing()) return e;
                tree_.root = f.items.size() == 1 && !f.comma ? f.items[0] : add_container(py_node::kind::tuple, f.items);
                return std::nullopt;
            }
            if (pos_ >= s_.size()) return err(error_kind::malformed, "unexpected EOF: unclosed bracket");
            char32_t c = s_[pos_];
            if (f.want_colon) {
                if (c != ':') {
                    if (f.is_dict) return err(error_kind::malformed, "':' expected after a dict key");
                    f.is_set = true;  // "{a, ..." or "{a}"
                    f.want_colon = false;
                    continue;
                }
                if (f.is_set) return err(error_kind::malformed, "invalid syntax: ':' in a set");
                f.is_dict = true;
                f.want_colon = false;
                f.want_value = true;
                ++pos_;
                continue;
            }
            if (c == ',' ) {
                if (f.want_value) return err(error_kind::malformed, "invalid syntax: unexpected ','");
                if (f.is_dict && f.items.size() % 2) return err(error_kind::malformed, "dict key without a value");
                f.comma = true;
                f.want_value = true;
                ++pos_;
                continue;
            }
            if (c == ')' || c == ']' || c == '}') {
                if (auto e = close(c)) return e;
                continue;
            }
            if (!f.want_value) return err(error_kind::malformed, "invalid syntax: two values without a comma");
            if (c == '(' || c == '[' || c == '{') {
                if (frames_.size() > kMaxDepth) return err(error_kind::unsupported, "brackets nested too deeply");
                frame n;
                n.k = c == '(' ? frame::kind::paren : c == '[' ? frame::kind::list : frame::kind::brace;
                n.opened_at = pos_++;
                frames_.push_back(std::move(n));
                continue;
            }
            auto v = value();
            if (!v) return v.error();
            if (auto e = attach(v.value())) return e;
        }
    }

    // A finished value goes into the innermost open container.
    std::optional<error> attach(std::uint32_t v) {
        frame& f = frames_.back();
        f.items.push_back(v);
        f.want_value = false;
        if (f.k == frame::kind::brace) {
            bool key = f.is_dict ? f.items.size() % 2 == 1 : !f.is_set;
            if (key || (!f.is_dict && f.is_set)) {
                if (!py_hashable(tree_, v)) return err(error_kind::malformed, "unhashable type in a dict key or set");
            }
            if (key && !f.is_set) f.want_colon = true;
        }
        return std::nullopt;
    }

    std::optional<error> close(char32_t c) {
        frame& f = frames_.back();
        frame::kind want = c == ')' ? frame::kind::paren : c == ']' ? frame::kind::list : frame::kind::brace;
        if (f.k != want) return err(error_kind::malformed, "unmatched closing bracket");
        if (f.want_value && f.comma == false && !f.items.empty()) return err(error_kind::malformed, "invalid syntax");
        if (f.is_dict && f.items.size() % 2) return err(error_kind::malformed, "dict key without a value");
        ++pos_;
        std::uint32_t v;
        if (f.k == frame::kind::paren) {
            if (f.items.size() == 1 && !f.comma) v = f.items[0];  // (x) is x
            else v = add_container(py_node::kind::tuple, f.items);
        } else if (f.k == frame::kind::list) {
            v = add_container(py_node::kind::list, f.items);
        } else {
            v = add_container(f.is_set || (!f.is_dict && !f.items.empty()) ? py_node::kind::set : py_node::kind::dict,
                              f.items);
        }
        frames_.pop_back();
        if (frames_.back().k == frame::kind::top && !frames_.back().want_value)
            return err(error_kind::malformed, "invalid syntax");
        return attach(v);
    }

    std::uint32_t add_container(py_node::kind k, const std::vector<std::uint32_t>& items) {
        py_node n;
        n.k = k;
        n.first = static_cast<std::uint32_t>(tree_.children.size());
        n.count = static_cast<std::uint32_t>(items.size());
        tree_.children.insert(tree_.children.end(), items.begin(), items.end());
        tree_.nodes.push_back(std::move(n));
        return static_cast<std::uint32_t>(tree_.nodes.size() - 1);
    }
    std::uint32_t add(py_node n) {
        tree_.nodes.push_back(std::move(n));
        return static_cast<std::uint32_t>(tree_.nodes.size() - 1);
    }

    result<std::uint32_t> value() {
        char32_t c = s_[pos_];
        if (c == '-' || c == '+') {
            // literal_eval: one UAdd/USub on a numeric constant, nothing else.
            bool neg = c == '-';
            ++pos_;
            skip_space(frames_.back().k != frame::kind::top);
            // Parentheses only group: -(3) is UnaryOp(USub, Constant(3)).
            std::size_t parens = 0;
            while (pos_ < s_.size() && s_[pos_] == '(') {
                ++parens;
                ++pos_;
                skip_space(true);
            }
            if (pos_ >= s_.size() || !(is_digit(s_[pos_]) || (s_[pos_] == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))))
                return err(error_kind::malformed, "malformed node: a sign applies to numbers only");
            auto n = number();
            if (!n) return n.error();
            for (; parens > 0; --parens) {
                skip_space(true);
                if (pos_ >= s_.size() || s_[pos_] != ')')
                    return err(error_kind::malformed, "malformed node: a sign applies to numbers only");
                ++pos_;
            }
            py_node& node = tree_.nodes[n.value()];
            if (neg) {
                if (node.k == py_node::kind::integer) node.number = -node.number;
                else node.text.insert(node.text.begin(), '-');
            }
            return n;
        }
        if (is_digit(c) || (c == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))) return number();
        if (c == '\'' || c == '"' || is_ident(c)) {
            std::size_t p = pos_;
            while (p < s_.size() && is_ident(s_[p]) && p - pos_ < 3) ++p;
            if (p < s_.size() && (s_[p] == '\'' || s_[p] == '"') && p - pos_ <= 2) return strings();
            return name();
        }
        if (c == '.') return err(error_kind::unsupported, "Ellipsis is not read");
        if (c == '\\') return err(error_kind::unsupported, "line continuations outside brackets are not read");
        return err(error_kind::malformed, "invalid character in a literal");
    }

    result<std::uint32_t> name() {
        std::size_t start = pos_;
        while (pos_ < s_.size() && is_ident(s_[pos_])) ++pos_;
        std::u32string_view w = s_.substr(start, pos_ - start);
        py_node n;
        if (w == U"True" || w == U"False") {
            n.k = py_node::kind::boolean;
            n.number = w == U"True";
            return add(std::move(n));
        }
        if (w == U"None") return add(std::move(n));
        if (w == U"set") {
            // set() is the one call literal_eval allows.
            skip_space(frames_.back().k != frame::kind::top);
            if (pos_ < s_.size() && s_[pos_] == '(') {
                ++pos_;
                skip_space(true);
                if (pos_ < s_.size() && s_[pos_] == ')') {
                    ++pos_;
                    return add_container(py_node::kind::set, {});
                }
            }
        }
        pos_ = start;
        return err(error_kind::malformed, "malformed node: names other than True, False, None are not literals");
    }

    result<std::uint32_t> number() {
        std::size_t start = pos_;
        py_node n;
        n.k = py_node::kind::integer;
        auto digits = [&](int base) -> bool {  // digits with single underscores between them
            std::size_t begin = pos_;
            bool last_underscore = true;
            while (pos_ < s_.size()) {
                char32_t c = s_[pos_];
                if (c == '_') {
                    if (last_underscore) return false;
                    last_underscore = true;
                } else {
                    int d = hex_value(c);
                    if (d < 0 || d >= base) break;
                    last_underscore = false;
                }
                ++pos_;
            }
            return pos_ > begin && !last_underscore;
        };
        int base = 10;
        if (s_[pos_] == '0' && pos_ + 1 < s_.size()) {
            char32_t p = s_[pos_ + 1];
            base = (p == 'x' || p == 'X') ? 16 : (p == 'o' || p == 'O') ? 8 : (p == 'b' || p == 'B') ? 2 : 10;
        }
        bool is_float = false;
        if (base != 10) {
            pos_ += 2;
            if (pos_ < s_.size() && s_[pos_] == '_') ++pos_;
            if (!digits(base)) return err(error_kind::malformed, "invalid number literal");
        } else {
            if (s_[pos_] != '.' && !digits(10)) return err(error_kind::malformed, "invalid decimal literal");
            if (pos_ < s_.size() && s_[pos_] == '.') {
                is_float = true;
                ++pos_;
                if (pos_ < s_.size() && is_digit(s_[pos_]) && !digits(10))
                    return err(error_kind::malformed, "invalid decimal literal");
            }
            if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
                is_float = true;
                ++pos_;
                if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
                if (!digits(10)) return err(error_kind::malformed, "invalid decimal literal");
            }
            if (pos_ < s_.size() && (s_[pos_] == 'j' || s_[pos_] == 'J'))
                return err(error_kind::unsupported, "complex numbers are not read");
        }
        std::u32string_view text = s_.substr(start, pos_ - start);
        for (char32_t c : text)
            if (c != '_') n.text.push_back(static_cast<char>(c));
        if (is_float) {
            n.k = py_node::kind::floating;
        } else {
            std::size_t from = base == 10 ? 0 : 2;
            if (base == 10 && n.text.size() > 1 && n.text[0] == '0') {
                for (char c : n.text)
                    if (c != '0') return err(error_kind::malformed, "leading zeros in decimal integer literals are not permitted");
            }
            std::uint64_t v = 0;
            bool big = false;
            for (std::size_t i = from; i < n.text.size(); ++i) {
                auto d = static_cast<std::uint64_t>(hex_value(static_cast<char32_t>(n.text[i])));
                if (v > (std::numeric_limits<std::uint64_t>::max() - d) / static_cast<std::uint64_t>(base)) big = true;
                v = v * static_cast<std::uint64_t>(base) + d;
            }
            if (big || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) n.k = py_node::kind::big_integer;
            else n.number = static_cast<std::int64_t>(v);
        }
        // numpy's _filter_header (versions 1.0, 2.0): tokenize drops a NAME 'L'
        // that directly follows a NUMBER token ("3L" and "3 L" alike).
        if (drop_long_) {
            std::size_t p = pos_;
            while (true) {
                if (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t')) ++p;
                else if (p + 1 < s_.size() && s_[p] == '\\' && s_[p + 1] == '\n') p += 2;
                else break;
            }
            if (p < s_.size() && s_[p] == 'L' && (p + 1 >= s_.size() || !is_ident(s_[p + 1]))) pos_ = p + 1;
        }
        if (pos_ < s_.size() && (is_ident(s_[pos_]) || s_[pos_] == '.'))
            return err(error_kind::malformed, "invalid decimal literal");
        return add(std::move(n));
    }

    // One or more adjacent string literals, concatenated as the compiler does.
    result<std::uint32_t> strings() {
        py_node n;
        bool first = true;
        while (true) {
            bool raw = false, bytes = false;
            std::size_t prefix_at = pos_;
            while (pos_ < s_.size() && s_[pos_] != '\'' && s_[pos_] != '"') {
                char32_t c = s_[pos_++];
                if (c == 'r' || c == 'R') raw = true;
                else if (c == 'b' || c == 'B') bytes = true;
                else if (c == 'f' || c == 'F') return err(error_kind::unsupported, "f-strings are not literals");
                else if (c != 'u' && c != 'U') return err(error_kind::malformed, "invalid string prefix");
            }
            std::u32string_view prefix = s_.substr(prefix_at, pos_ - prefix_at);
            bool has_u = prefix.find_first_of(U"uU") != std::u32string_view::npos;
            if (prefix.size() > 2 || (has_u && prefix.size() > 1) || (prefix.size() == 2 && !(raw && bytes)))
                return err(error_kind::malformed, "invalid string prefix");
            if (!first && bytes != (n.k == py_node::kind::bytes))
                return err(error_kind::malformed, "cannot mix bytes and nonbytes literals");
            n.k = bytes ? py_node::kind::bytes : py_node::kind::str;
            first = false;
            if (auto e = one_string(n, raw, bytes)) return *e;
            // Another literal may follow: whitespace (and newlines inside brackets) between.
            std::size_t save = pos_;
            skip_space(frames_.back().k != frame::kind::top);
            std::size_t p = pos_;
            while (p < s_.size() && p - pos_ < 3 && (s_[p] == 'r' || s_[p] == 'R' || s_[p] == 'b' || s_[p] == 'B' ||
                                                    s_[p] == 'u' || s_[p] == 'U' || s_[p] == 'f' || s_[p] == 'F'))
                ++p;
            if (p < s_.size() && (s_[p] == '\'' || s_[p] == '"')) continue;
            pos_ = save;
            break;
        }
        return add(std::move(n));
    }

    std::optional<error> one_string(py_node& n, bool raw, bool bytes) {
        char32_t q = s_[pos_];
        bool triple = pos_ + 2 < s_.size() && s_[pos_ + 1] == q && s_[pos_ + 2] == q;
        std::size_t start = pos_;
        pos_ += triple ? 3 : 1;
        auto put = [&](std::uint32_t cp) {
            if (bytes) n.text.push_back(static_cast<char>(cp));
            else text::append_code_point(n.text, cp);
            ++n.code_points;
        };
        while (true) {
            if (pos_ >= s_.size()) {
                pos_ = start;
                return err(error_kind::malformed, "unterminated string literal");
            }
            char32_t c = s_[pos_];
            if (c == q && (!triple || (pos_ + 2 < s_.size() && s_[pos_ + 1] == q && s_[pos_ + 2] == q))) {
                pos_ += triple ? 3 : 1;
                return std::nullopt;
            }
            if (c == '\n' && !triple) return err(error_kind::malformed, "unterminated string literal (newline)");
            if (bytes && c >= 0x80) return err(error_kind::malformed, "bytes can only contain ASCII literal characters");
            ++pos_;
            if (c != '\\') {
                put(c);
                continue;
            }
            if (pos_ >= s_.size()) continue;  // reported as unterminated above
            char32_t e = s_[pos_];
            if (raw) {
                // A raw string keeps the backslash and the character after it (which cannot end the string).
                put('\\');
                put(e);
                ++pos_;
                continue;
            }
            ++pos_;
            switch (e) {
                case '\n': continue;  // line continuation inside the literal
                case '\\': put('\\'); continue;
                case '\'': put('\''); continue;
                case '"': put('"'); continue;
                case 'a': put(7); continue;
                case 'b': put(8); continue;
                case 'f': put(12); continue;
                case 'n': put(10); continue;
                case 'r': put(13); continue;
                case 't': put(9); continue;
                case 'v': put(11); continue;
                default: break;
            }
            if (e >= '0' && e <= '7') {
                std::uint32_t v = e - '0';
                for (int k = 0; k < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++k)
                    v = v * 8 + (s_[pos_++] - '0');
                if (v > 0377) return err(error_kind::unsupported, "octal escape above \\377");
                put(v);
                continue;
            }
            int hex = e == 'x' ? 2 : (!bytes && e == 'u') ? 4 : (!bytes && e == 'U') ? 8 : 0;
            if (hex) {
                std::uint32_t v = 0;
                for (int k = 0; k < hex; ++k) {
                    int d = pos_ < s_.size() ? hex_value(s_[pos_]) : -1;
                    if (d < 0) return err(error_kind::malformed, "truncated \\xXX, \\uXXXX or \\UXXXXXXXX escape");
                    v = v * 16 + static_cast<std::uint32_t>(d);
                    ++pos_;
                }
                if (v > 0x10FFFF) return err(error_kind::malformed, "illegal Unicode character");
                put(v);
                continue;
            }
            if (!bytes && e == 'N') return err(error_kind::unsupported, "\\N{...} escapes are not read");
            // An unknown escape keeps its backslash (a DeprecationWarning in Python 3.11).
            put('\\');
            put(e);
        }
    }

    // Spaces, tabs, comments, backslash continuations; newlines only inside brackets.
    void skip_space(bool newlines) {
        while (pos_ < s_.size()) {
            char32_t c = s_[pos_];
            if (c == ' ' || c == '\t' || (newlines && c == '\n')) {
                ++pos_;
            } else if (newlines && c == '\\' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') {
                pos_ += 2;
            } else if (c == '#') {
                while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
            } else {
                break;
            }
        }
    }
    void skip_blank() { skip_space(false); }

    bool at_end_of_expression() const { return pos_ >= s_.size() || s_[pos_] == '\n'; }

    // After the expression: only blank lines and comments.
    std::optional<error> trailing() {
        while (pos_ < s_.size()) {
            char32_t c = s_[pos_];
            if (c == '\n' || c == ' ' || c == '\t') ++pos_;
            else if (c == '#') while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
            else return err(error_kind::malformed, "invalid syntax: text after the expression");
        }
        return std::nullopt;
    }

    error err(error_kind k, std::string why) const { return error{k, pos_, error::no_opcode, std::move(why)}; }
    result<py_tree> fail(error_kind k, std::string why) const { return err(k, std::move(why)); }

    std::u32string_view s_;
    bool drop_long_;
    std::size_t pos_ = 0;
    std::vector<frame> frames_;
    py_tree tree_;
};

}  // namespace

result<py_tree> parse_py_literal(std::u32string_view source, bool drop_long_suffix) {
    return parser(source, drop_long_suffix).run();
}

bool py_hashable(const py_tree& t, std::uint32_t node) {
    std::vector<std::uint32_t> todo{node};
    while (!todo.empty()) {
        const py_node& n = t.at(todo.back());
        todo.pop_back();
        if (n.k == py_node::kind::list || n.k == py_node::kind::dict || n.k == py_node::kind::set) return false;
        if (n.k == py_node::kind::tuple)
            for (std::uint32_t k = 0; k < n.count; ++k) todo.push_back(t.child(n, k));
    }
    return true;
}

}  // namespace pickleguard::read
