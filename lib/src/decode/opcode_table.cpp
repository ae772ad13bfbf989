// The opcode table: one row per opcode CPython's unpickler knows.
// Rows follow `pickletools.opcodes`; behaviour follows `Modules/_pickle.c`.
#include "opcode_table.hpp"

#include <array>

namespace pickleguard {
namespace {


constexpr std::array<const opcode_info*, 256> make_index() {
    std::array<const opcode_info*, 256> index{};
    for (const opcode_info& op : kOpcodeTable) index[op.code] = &op;
    return index;
}

constexpr std::array<const opcode_info*, 256> kIndex = make_index();

}  // namespace

std::span<const opcode_info> all_opcodes() noexcept { return kOpcodeTable; }

const opcode_info* find_opcode(std::uint8_t code) noexcept { return kIndex[code]; }


}  // namespace pickleguard
