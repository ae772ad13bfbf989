// The opcode table is the single description of the machine: check it.
#include "pickleguard/opcodes.hpp"

#include <gtest/gtest.h>

#include <set>

namespace pickleguard {
namespace {

TEST(OpcodeTable, HasEveryOpcodeOfProtocolsZeroToFive) {
    // pickletools.opcodes in CPython 3.11 lists 68 opcodes.
    EXPECT_EQ(all_opcodes().size(), 68u);
}

TEST(OpcodeTable, CodesAndNamesAreUnique) {
    std::set<std::uint8_t> codes;
    std::set<std::string_view> names;
    for (const opcode_info& op : all_opcodes()) {
        EXPECT_TRUE(codes.insert(op.code).second) << op.name;
        EXPECT_TRUE(names.insert(op.name).second) << op.name;
        EXPECT_LE(op.protocol, 5) << op.name;
    }
}

TEST(OpcodeTable, LookupByByteFindsTheRow) {
    for (const opcode_info& op : all_opcodes()) {
        const opcode_info* found = find_opcode(op.code);
        ASSERT_NE(found, nullptr);
        EXPECT_EQ(found->name, op.name);
    }
    int known = 0;
    for (int b = 0; b < 256; ++b) known += find_opcode(static_cast<std::uint8_t>(b)) != nullptr;
    EXPECT_EQ(known, 68);
}

TEST(OpcodeTable, ProtocolTwoAddedTheBinaryConstructors) {
    EXPECT_EQ(find_opcode(0x80)->name, "PROTO");
    EXPECT_EQ(find_opcode(0x80)->protocol, 2);
    EXPECT_EQ(find_opcode(0x95)->name, "FRAME");
    EXPECT_EQ(find_opcode(0x95)->arg, arg_kind::uint8);
    EXPECT_EQ(find_opcode(0x96)->name, "BYTEARRAY8");
    EXPECT_EQ(find_opcode(0x96)->protocol, 5);
}

}  // namespace
}  // namespace pickleguard
