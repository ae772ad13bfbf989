#include "pickleguard/disasm.hpp"

#include "pickleguard/opcodes.hpp"

#include <bit>
#include <cstdio>
#include <string>

namespace pickleguard {
namespace {

// Python-style repr of argument bytes, shortened for long data.
std::string quoted(std::string_view s, std::size_t max = 64) {
    std::string out = "'";
    std::size_t n = std::min(s.size(), max);
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\\' || c == '\'') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    out.push_back('\'');
    if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

std::string code_repr(std::uint8_t code) {
    char buf[8];
    if (code >= 0x20 && code < 0x7f) std::snprintf(buf, sizeof buf, "%c", code);
    else std::snprintf(buf, sizeof buf, "\\x%02x", code);
    return buf;
}

class printer final : public decode_observer {
public:
    explicit printer(const std::function<void(std::string_view)>& sink) : sink_(sink) {}

    void on_opcode(const opcode_step& step) override {
        const opcode_info& op = *find_opcode(step.opcode);
        char head[48];
        std::snprintf(head, sizeof head, "%8llu: %-4s ", static_cast<unsigned long long>(step.offset),
                      code_repr(step.opcode).c_str());
        std::string line = head;
        // Indent by open MARKs, as pickletools does, measured before the opcode.
        std::size_t indent = op.code == '(' ? marks_before_ : step.mark_depth;
        if (op.code != '(' && step.mark_depth < marks_before_) indent = step.mark_depth;
        line.append(std::min<std::size_t>(indent, 40) * 4, ' ');
        char name[24];
        std::snprintf(name, sizeof name, "%-16s ", std::string(op.name).c_str());
        line += name;
        line += argument(op, step);
        std::string notes;
        if (op.code == 0x80) notes += "protocol " + std::to_string(step.int_arg);
        if (step.memo_index >= 0) notes += "memo[" + std::to_string(step.memo_index) + "]";
        if (step.global) {
            const global_name& g = *step.global;
            notes += "-> " + std::string(g.module) + "." + std::string(g.name);
            if (g.remapped) notes += " (fix_imports from " + std::string(g.raw_module) + "." + std::string(g.raw_name) + ")";
            if (g.dotted) notes += " (dotted: attribute path)";
        }
        notes += (notes.empty() ? "" : "  ") + std::string("[proto ") + std::to_string(step.protocol) + "]";
        while (line.size() < 60) line.push_back(' ');
        line += " " + notes + "\n";
        sink_(line);
        marks_before_ = step.mark_depth;
    }

private:
    static std::string argument(const opcode_info& op, const opcode_step& step) {
        switch (op.arg) {
            case arg_kind::none: return {};
            case arg_kind::line: return quoted(step.raw_arg.substr(0, step.raw_arg.size() - 1));
            case arg_kind::line_pair: {
                std::string_view a = step.raw_arg;
                std::size_t nl = a.find('\n');
                return quoted(a.substr(0, nl)) + " " + quoted(a.substr(nl + 1, a.size() - nl - 2));
            }
            case arg_kind::counted1: case arg_kind::counted4: case arg_kind::counted8: {
                std::size_t prefix = op.arg == arg_kind::counted1 ? 1 : op.arg == arg_kind::counted4 ? 4 : 8;
                return quoted(step.raw_arg.substr(prefix));
            }
            case arg_kind::counted_long1: case arg_kind::counted_long4: {
                std::size_t prefix = op.arg == arg_kind::counted_long1 ? 1 : 4;
                return "(" + std::to_string(step.raw_arg.size() - prefix) + " bytes)";
            }
            case arg_kind::uint8:
                if (op.code == 'G') {
                    // BINFLOAT: a big-endian double, shown as its value
                    std::uint64_t be = 0;
                    for (char c : step.raw_arg) be = (be << 8) | static_cast<std::uint8_t>(c);
                    char buf[40];
                    std::snprintf(buf, sizeof buf, "%.17g", std::bit_cast<double>(be));
                    return buf;
                }
                return std::to_string(static_cast<std::uint64_t>(step.int_arg));
            default: return std::to_string(step.int_arg);
        }
    }

    const std::function<void(std::string_view)>& sink_;
    std::size_t marks_before_ = 0;
};

}  // namespace

decoding disassemble(std::span<const std::byte> input, const decode_options& options, std::size_t start,
                     const std::function<void(std::string_view)>& sink) {
    printer p(sink);
    decoding d = decode(input, options, start, &p);
    std::string tail;
    if (d.failure) {
        tail = "error: " + describe(*d.failure) + "\n";
        tail += "         (everything above ran in CPython before it raised)\n";
    } else {
        tail = "stopped: STOP at offset " + std::to_string(d.end - 1) + ", highest protocol " +
               std::to_string(d.highest_protocol) + ", " + std::to_string(d.opcode_count) + " opcodes";
        std::uint64_t trailing = input.size() - d.end;
        if (trailing) tail += "; " + std::to_string(trailing) + " bytes follow from offset " + std::to_string(d.end);
        tail += "\n";
    }
    sink(tail);
    return d;
}

}  // namespace pickleguard
