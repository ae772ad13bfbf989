// The decoder, one test per behaviour of CPython's loader or per attack.
// Every pickle here is written byte by byte; nothing is ever unpickled.
#include "pickleguard/decode.hpp"
#include "pickleguard/json.hpp"

#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pickleguard {
namespace {

using namespace std::string_literals;
using testing::pb;

std::string json_of(const std::string& pickle) {
    decoding d = decode(pickle);
    if (d.failure) return "error: " + describe(*d.failure);
    return to_json(d.graph, *d.root).value();
}

std::string le(std::uint64_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return s;
}

// ---- values --------------------------------------------------------------------

// The graph holds a container as it is at the end of the stream; a judge
// reading a BUILD's state needs to know whether it changed after that BUILD.
// Here a list is BUILD state (the first BUILD), then filled through the memo.
TEST(Decode, ContainersRecordTheBuildsBeforeTheirLastChange) {
    // PROTO 4, GLOBAL m.f, EMPTY_TUPLE, REDUCE, EMPTY_LIST, MEMOIZE, BUILD,
    // BINGET 0, MARK, K 1, APPENDS, POP, STOP
    const std::string p = "\x80\x04" "cm\nf\n" ")R" "]\x94" "b" "h\x00" "(K\x01" "e0" "."s;
    decoding d = decode(p);
    ASSERT_TRUE(d.complete()) << (d.failure ? describe(*d.failure) : "");
    const event* build = nullptr;
    for (const event& e : d.events)
        if (e.kind == event_kind::build) build = &e;
    ASSERT_NE(build, nullptr);
    EXPECT_EQ(d.graph.items(build->operand).size(), 1u);            // full at the end of the stream
    EXPECT_EQ(d.graph.builds_before_change(build->operand), 1u);    // changed after the first BUILD
    // The same list filled before the BUILD: unchanged since (0 < 1).
    const std::string q = "\x80\x04" "cm\nf\n" ")R" "](K\x01" "e" "b" ".";
    decoding d2 = decode(q);
    ASSERT_TRUE(d2.complete());
    for (const event& e : d2.events) {
        if (e.kind != event_kind::build) continue;
        EXPECT_EQ(d2.graph.builds_before_change(e.operand), 0u);
    }
}


TEST(Decode, ProtocolZeroIntSpellings) {
    EXPECT_EQ(json_of(pb(R"(I01\n.)")), "true");       // Python 2's bool spelling
    EXPECT_EQ(json_of(pb(R"(I00\n.)")), "false");
    // Any other 2-char spelling of 0/1 is a bool to _pickle.c, an int to pickle.py: no single reading.
    EXPECT_TRUE(json_of(pb(R"(I+1\n.)")).starts_with("error"));
    EXPECT_EQ(json_of(pb(R"(I010\n.)")), "8");         // strtol base 0: octal
    EXPECT_EQ(json_of(pb(R"(I0x1f\n.)")), "31");
    EXPECT_EQ(json_of(pb(R"(I1_000\n.)")), "1000");    // PyLong_FromString fallback
    EXPECT_EQ(json_of(pb(R"(I 12 \n.)")), "12");
    EXPECT_EQ(json_of(pb(R"(I12\0junk\n.)")), "12");  // C stops at the NUL
    EXPECT_EQ(json_of(pb(R"(I99999999999999999999\n.)")), "{\"$int\": \"99999999999999999999\"}");
    EXPECT_TRUE(json_of(pb(R"(Ixyz\n.)")).starts_with("error"));
}

TEST(Decode, LongTextWithAndWithoutSuffix) {
    EXPECT_EQ(json_of(pb(R"(L12L\n.)")), "12");
    EXPECT_EQ(json_of(pb(R"(L12\n.)")), "12");
    EXPECT_EQ(json_of(pb(R"(L-0x10L\n.)")), "-16");
    EXPECT_EQ(json_of(pb(R"(L123456789012345678901234567890L\n.)")), "{\"$int\": \"123456789012345678901234567890\"}");
}

TEST(Decode, BinaryLongs) {
    EXPECT_EQ(json_of(pb(R"(\x8a\x01\xff.)")), "-1");
    EXPECT_EQ(json_of(pb(R"(\x8a\x00.)")), "0");
    EXPECT_EQ(json_of(pb(R"(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.)")), "{\"$int\": \"18446744073709551616\"}");
    EXPECT_EQ(json_of(pb(R"(\x8b\xff\xff\xff\xff.)")), "error: offset 0 (LONG4): LONG pickle has negative byte count");
}

TEST(Decode, Floats) {
    EXPECT_EQ(json_of(pb(R"(F2\n.)")), "2.0");
    EXPECT_EQ(json_of(pb(R"(F-0.0\n.)")), "-0.0");
    EXPECT_EQ(json_of(pb(R"(Finf\n.)")), "{\"$float\": \"inf\"}");
    EXPECT_EQ(json_of(pb(R"(G\x7f\xf8\x00\x00\x00\x00\x00\x00.)")), "{\"$float\": \"nan\"}");
    EXPECT_EQ(json_of(pb(R"(F1e300\n.)")), "1e+300");
    EXPECT_TRUE(json_of(pb(R"(F1e999\n.)")).starts_with("error"));  // OverflowError in CPython
}

TEST(Decode, StringsDecodeLikeCPython) {
    EXPECT_EQ(json_of(pb(R"(S'a\\x41\\n'\n.)")), "\"aA\\n\"");
    EXPECT_TRUE(json_of(pb(R"(S'abc\n.)")).starts_with("error"));        // unquoted
    EXPECT_TRUE(json_of(pb(R"(S'\\xe9'\n.)")).starts_with("error"));     // not ASCII
    EXPECT_EQ(json_of(pb(R"(V\\u00e9\\U0001f600\n.)")), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    EXPECT_EQ(json_of(pb(R"(X\x03\x00\x00\x00\xed\xa0\x80.)")), "\"\\ud800\"");  // surrogatepass
    EXPECT_TRUE(json_of(pb(R"(X\x01\x00\x00\x00\xff.)")).starts_with("error"));
}

TEST(Decode, SeedExampleProtocolTwo) {
    // {'a': [1, 2.0, 3, (4+6j)], 'b': ('character string', b'byte string'), 'c': {None, True, False}}
    // as protocol 2 writes it: complex, bytes and set go through constructors.
    std::string p = pb(
        R"(\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x00\x00\x00\x00\x00\x00\x00K\x03c__builtin__\ncomplex\n)"
        R"(q\x03G@\x10\x00\x00\x00\x00\x00\x00G@\x18\x00\x00\x00\x00\x00\x00\x86q\x04Rq\x05eX\x01\x00\x00\x00bq\x06)"
        R"(X\x10\x00\x00\x00character stringq\x07c_codecs\nencode\nq\x08X\x0b\x00\x00\x00byte stringq\tX\x06\x00\x00)"
        R"(\x00latin1q\n\x86q\x0bRq\x0c\x86q\rX\x01\x00\x00\x00cq\x0ec__builtin__\nset\nq\x0f]q\x10(N\x88\x89e\x85q)"
        R"(\x11Rq\x12u.)");
    EXPECT_EQ(json_of(p),
              "{\"$dict\": [[\"a\", [1, 2.0, 3, {\"$reduce\": [{\"$global\": \"builtins.complex\", \"$raw\": "
              "\"__builtin__.complex\"}, {\"$tuple\": [4.0, 6.0]}]}]], [\"b\", {\"$tuple\": [\"character string\", "
              "{\"$bytes\": \"Ynl0ZSBzdHJpbmc=\"}]}], [\"c\", {\"$set\": [null, true, false]}]]}");
}

TEST(Decode, SharedAndCyclicValuesUseIds) {
    // l = []; l.append(l); [l, l]
    EXPECT_EQ(json_of(pb(R"(\x80\x02](]q\x00h\x00ah\x00e.)")),
              "[{\"$id\": 0, \"$value\": [{\"$ref\": 0}]}, {\"$ref\": 0}]");
}

TEST(Decode, EqualKeysMergeAsInADict) {
    // {1: 'a', 1.0: 'b', True: 'c'}: one entry, the first key, the last value.
    EXPECT_EQ(json_of(pb(R"(}(K\x01X\x01\x00\x00\x00aG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00b\x88X\x01\x00\x00\x00cu.)")),
              "{\"$dict\": [[1, \"c\"]]}");
    // (1, 2) and (1.0, 2) are equal tuples; 2**64 equals float(2**64).
    EXPECT_EQ(json_of(pb(R"(}(K\x01K\x02\x86K\x01G?\xf0\x00\x00\x00\x00\x00\x00K\x02\x86K\x02u.)")),
              "{\"$dict\": [[{\"$tuple\": [1, 2]}, 2]]}");
    EXPECT_EQ(json_of(pb(R"(}(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01K\x01GC\xf0\x00\x00\x00\x00\x00\x00K\x02u.)")),
              "{\"$dict\": [[{\"$int\": \"18446744073709551616\"}, 2]]}");
    // str and bytes never compare equal.
    EXPECT_EQ(json_of(pb(R"(}(X\x01\x00\x00\x00aK\x01C\x01aK\x02u.)")),
              "{\"$dict\": [[\"a\", 1], [{\"$bytes\": \"YQ==\"}, 2]]}");
}

TEST(Decode, EqualItemsMergeAsInASet) {
    EXPECT_EQ(json_of(pb(R"(\x8f(K\x01\x88G?\xf0\x00\x00\x00\x00\x00\x00K\x02\x90.)")), "{\"$set\": [1, 2]}");
    EXPECT_EQ(json_of(pb(R"((K\x01K\x01K\x00\x89\x91.)")), "{\"$frozenset\": [1, 0]}");
}

TEST(Decode, LargeDictsIndexTheirKeys) {
    // 100 distinct keys, then the first key again: still 100 entries.
    std::string p = "}(";
    for (int i = 0; i < 100; ++i) p += "K" + std::string(1, static_cast<char>(i)) + "N";
    p += pb(R"(K\x00\x88u.)");
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    auto items = d.graph.items(*d.root);
    ASSERT_EQ(items.size(), 200u);
    EXPECT_EQ(d.graph.kind(items[1]), value_kind::boolean);
}

// ---- the machine -----------------------------------------------------------------

TEST(Decode, ProtocolInForceChangesAtEveryProto) {
    // GLOBAL under protocol 2 maps __builtin__ -> builtins; under 4 it does not.
    const std::string p = pb(R"(\x80\x02c__builtin__\neval\n\x80\x04c__builtin__\neval\n\x86.)");
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    ASSERT_EQ(d.graph.globals().size(), 2u);
    EXPECT_EQ(d.graph.globals()[0].module, "builtins");
    EXPECT_TRUE(d.graph.globals()[0].remapped);
    EXPECT_EQ(d.graph.globals()[1].module, "__builtin__");
}

TEST(Decode, DottedNamesFromProtocolFour) {
    const std::string p = pb(R"(\x80\x04\x8c\x06shutil\x8c\tos.system\x93.)");
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    const global_name& g = d.graph.global(*d.root);
    EXPECT_EQ(g.module, "shutil");
    EXPECT_EQ(g.name, "os.system");
    EXPECT_TRUE(g.dotted);
}

TEST(Decode, StackGlobalTakesStringsFromTheMemo) {
    const std::string p = pb(R"(\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93.)");
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    EXPECT_EQ(d.graph.global(*d.root).module, "os");
    EXPECT_EQ(d.graph.global(*d.root).name, "system");
}

TEST(Decode, StackGlobalRefusesNonStrings) {
    const std::string p = pb(R"(\x80\x04K\x01K\x02\x93.)");
    decoding d = decode(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->reason, "STACK_GLOBAL requires str");
}

TEST(Decode, MemoizeWritesAtTheCountOfFilledSlots) {
    // BINPUT 5 fills one slot, so MEMOIZE writes slot 1, not 6.
    EXPECT_EQ(json_of(pb(R"(\x80\x04K\x07q\x05K\x08\x94\x30\x30h\x01.)")), "8");
}

TEST(Decode, MarkAtTheTopIsPoppedByPop) {
    EXPECT_EQ(json_of(pb(R"(K\x01(0.)")), "1");
}

TEST(Decode, StopBelowAMarkIsAnError) {
    const std::string p = pb(R"((.)");
    decoding d = decode(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->reason, "unexpected MARK found");
}

TEST(Decode, ErrorsKeepWhatRanBefore) {
    // REDUCE of os.system ran in CPython before the unknown opcode.
    const std::string p = pb(R"(cos\nsystem\n(S'id'\ntR\xff)");
    decoding d = decode(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->offset, 20u);
    EXPECT_EQ(d.failure->reason, "invalid load key, '\\xff'.");
    ASSERT_EQ(d.events.size(), 2u);
    EXPECT_EQ(d.events[1].kind, event_kind::call);
}

TEST(Decode, BytesAfterStopAreNotPartOfThePickle) {
    std::string p = pb(R"(K\x01.cos\nsystem\n.)");
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    EXPECT_EQ(d.end, 3u);
    decoding second = decode(p, {}, d.end);
    ASSERT_FALSE(second.failure);
    EXPECT_EQ(second.graph.global(*second.root).module, "os");
}

TEST(Decode, FrameLongerThanTheFileIsTruncated) {
    const std::string p = pb(R"(\x80\x04\x95)") + le(1000, 8) + pb(R"(K\x01.)");
    decoding d = decode(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->kind, error_kind::truncated);
}

TEST(Decode, ProtoAboveFiveIsRefused) {
    const std::string p = pb(R"(\x80\x06N.)");
    decoding d = decode(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->reason, "unsupported pickle protocol: 6");
}

// ---- hostile sizes: errors, fast, bounded ------------------------------------------

class Hostile : public ::testing::Test {
protected:
    void expect_error_fast(const std::string& pickle, std::initializer_list<error_kind> kinds) {
        // No clock here: a loaded machine fails any bound, and the benchmark
        // measures speed. A decoder that hangs meets ctest's timeout.
        decoding d = decode(pickle);  // `pickle` outlives d
        ASSERT_TRUE(d.failure);
        EXPECT_NE(std::find(kinds.begin(), kinds.end(), d.failure->kind), kinds.end()) << describe(*d.failure);
    }
};

TEST_F(Hostile, MillionNestedLists) {
    expect_error_fast(std::string(1'000'000, ']') + std::string(999'999, 'a') + ".", {error_kind::limit});
}

TEST_F(Hostile, TwoMillionMarks) { expect_error_fast(std::string(2'000'000, '(') + ".", {error_kind::limit}); }

TEST_F(Hostile, BinBytes8DeclaringTwoToTheSixtyTwo) {
    expect_error_fast(pb(R"(\x80\x04\x8e)") + le(std::uint64_t{1} << 62, 8) + pb(R"(xx.)"), {error_kind::truncated});
}

TEST_F(Hostile, MemoIndexNearTwoToTheThirtyTwo) {
    expect_error_fast(pb(R"(\x80\x02K\x01r\xf0\xff\xff\xff.)"), {error_kind::limit});
}

TEST_F(Hostile, LongTextWithAMillionDigits) {
    // CPython refuses decimal text above 4300 digits; hex has our own limit.
    expect_error_fast("L" + std::string(1'000'000, '7') + "L\n.", {error_kind::malformed});
    expect_error_fast("L0x" + std::string(2'000'000, 'f') + "L\n.", {error_kind::limit});
}

TEST_F(Hostile, FrameLongerThanTheFile) {
    expect_error_fast(pb(R"(\x80\x04\x95)") + le(std::uint64_t{1} << 40, 8) + pb(R"(N.)"), {error_kind::truncated});
}

TEST_F(Hostile, SharedLeavesPrintInLinearSize) {
    // 120 levels of t = (t, t): 2^120 leaves, 120 distinct tuples.
    std::string p = pb(R"(\x80\x02N)");
    for (int i = 0; i < 120; ++i) p += pb(R"(q\x00h\x00\x86)");
    p += ".";
    decoding d = decode(p);
    ASSERT_FALSE(d.failure);
    auto json = to_json(d.graph, *d.root);
    ASSERT_TRUE(json);
    EXPECT_LT(json.value().size(), 10'000u);
}

}  // namespace
}  // namespace pickleguard
