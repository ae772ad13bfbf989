// Frames, and the other places where the readers victims use part ways.
//
// pickle.loads reads on across a FRAME's end. pickle.load on a file (what
// torch.load, pickle.load(f) and pandas.read_pickle do) reads a frame into
// _pickle.c's buffer and, when a read needs more than is left in it, drops
// the rest and reads on from the file after the frame; pickle._Unpickler
// (joblib) refuses. One test per technique, named after it; every pickle is
// built byte by byte, never unpickled. tests/differential/frame_cases.py runs
// the same shapes through all the readers (with a stub find_class).
#include "pickleguard/decode.hpp"
#include "pickleguard/json.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/scan.hpp"

#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <string>

namespace pickleguard {
namespace {

using testing::pb;

std::string frame(std::uint64_t n) {
    std::string s = "\x95";
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return s;
}

std::string le4(std::uint32_t n) {
    std::string s;
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return s;
}

// GLOBAL os system, then REDUCE with ('id',).
const std::string kOsSystem = pb(R"(cos\nsystem\nX\x02\x00\x00\x00id\x85R)");

// CPython issue 154848: a FRAME of 2 bytes holding a BINBYTES opcode and the
// first byte of its length (0x107). loads reads 0x107 bytes of "data"; a file
// reader drops the 0x07 still in its buffer, reads the length as 1 from the
// file, and runs the GLOBAL os system + REDUCE hidden in that "data".
std::string public_vector(bool padded) {
    std::string p = pb(R"(\x80\x05N)");
    // A 128 KiB line first, so that a real file's peek() returns only what is
    // left in its buffer and _pickle.c reads the frame with read().
    if (padded) p += "V" + std::string(8192 * 16 - 17, 'a') + "\n0";
    std::string payload = kOsSystem + "(";
    payload.resize(261, 'N');
    return p + "(" + frame(2) + "B" + le4(0x107) + std::string(2, '\0') + payload + "1.";
}

bool malformed_with(const decoding& d, std::string_view words) {
    return d.failure && d.failure->kind == error_kind::malformed && d.failure->reason.find(words) != std::string::npos;
}

class Frames : public ::testing::Test {
protected:
    // mylib.Registry may be named (passed as a value), nothing more.
    Frames()
        : policy_(parse_policy("name = \"test\"\ndescription = \"frames\"\n[[allow]]\nmodule = \"mylib\"\n"
                               "name = \"Registry\"\n",
                               "test.toml")
                      .value()) {}
    file_report scan(const std::string& pickle) {
        pickle_ = pickle;
        return scan_bytes(std::as_bytes(std::span(pickle_.data(), pickle_.size())), policy_, {}, "test.pkl");
    }
    // The graph points into the input: keep every input alive.
    decoding dec(std::string p, const decode_options& o = {}) {
        return decode(std::string_view(inputs_.emplace_back(std::move(p))), o);
    }
    policy policy_;
    std::string pickle_;
    std::deque<std::string> inputs_;
};

TEST_F(Frames, BinbytesAcrossFrameEndHidesOsSystemPublicVector) {
    for (bool padded : {false, true}) {
        const std::string p = public_vector(padded);
        decoding d = dec(p);
        EXPECT_TRUE(malformed_with(d, "pickle exhausted before end of frame")) << (d.failure ? d.failure->reason : "");
        EXPECT_EQ(d.failure->opcode, 'B');
        EXPECT_NE(scan(p).verdict, verdict::safe);
    }
}

TEST_F(Frames, OpcodeArgumentStraddlingTheFrameEndIsMalformed) {
    // BININT with one of its four bytes inside the frame.
    decoding d = dec(pb(R"(\x80\x04)") + frame(2) + pb(R"(J\x01\x02\x03\x04.)"));
    EXPECT_TRUE(malformed_with(d, "pickle exhausted before end of frame"));
    EXPECT_EQ(d.failure->offset, 11u);
    // BINUNICODE whose text ends after the frame.
    d = dec(pb(R"(\x80\x04)") + frame(7) + pb(R"(X\x03\x00\x00\x00ab)") + "c.");
    EXPECT_TRUE(malformed_with(d, "pickle exhausted before end of frame"));
}

TEST_F(Frames, LineStraddlingTheFrameEndIsMalformed) {
    decoding d = dec(pb(R"(\x80\x04)") + frame(5) + kOsSystem + ".");
    EXPECT_TRUE(malformed_with(d, "a line starts inside the frame"));
    EXPECT_NE(scan(pb(R"(\x80\x04)") + frame(3) + pb(R"(I12\n.)")).verdict, verdict::safe);
}

TEST_F(Frames, FrameInsideAnUnfinishedFrameIsMalformed) {
    const std::string inner = frame(2) + "N.";
    decoding d = dec(pb(R"(\x80\x04)") + frame(inner.size()) + inner);
    EXPECT_TRUE(malformed_with(d, "beginning of a new frame before end of current frame"));
    EXPECT_EQ(d.failure->offset, 11u);
}

TEST_F(Frames, FrameLongerThanTheFileIsNeverDecoded) {
    // pickle.py would read the two bytes there are and run them.
    const std::string p = pb(R"(\x80\x04)") + frame(100) + kOsSystem + ".";
    decoding d = dec(p);
    ASSERT_TRUE(d.failure);
    EXPECT_EQ(d.failure->kind, error_kind::truncated);
    EXPECT_EQ(d.failure->offset, 2u);
    EXPECT_NE(scan(p).verdict, verdict::safe);
}

TEST_F(Frames, StopInsideAFrameIsMalformed) {
    // The frame goes on past STOP: a file reader's next pickle.load starts at
    // the frame's end (BytesIO, pickle.py) or just after STOP (a peek).
    decoding d = dec(pb(R"(\x80\x04)") + frame(4) + "N.N.");
    EXPECT_TRUE(malformed_with(d, "STOP inside a frame"));
}

TEST_F(Frames, ArgumentsAfterAUsedUpFrameAreReadOnFromTheFile) {
    // Every reader agrees here: a read that finds the frame used up reads on
    // after it (BININT1's opcode is the frame's last byte, its argument comes
    // next; then GLOBAL's second line after a frame holding the first).
    decoding d = dec(pb(R"(\x80\x04)") + frame(1) + pb(R"(K\x05.)"));
    ASSERT_TRUE(d.complete()) << d.failure->reason;
    EXPECT_EQ(to_json(d.graph, *d.root).value(), "5");
    d = dec(pb(R"(\x80\x04)") + frame(4) + pb(R"(cos\nsystem\n.)"));
    ASSERT_TRUE(d.complete()) << d.failure->reason;
    EXPECT_EQ(to_json(d.graph, *d.root).value(), R"({"$global": "os.system"})");
}

TEST_F(Frames, WellFormedFramesWithLargeBytesBetweenThemDecode) {
    // As CPython's framer writes it: large bytes (header and data) between
    // frames, and empty frames are fine.
    const std::string head = pb(R"(]\x94(K\x01)");
    const std::string tail = pb(R"(K\x02e.)");
    const std::string p = pb(R"(\x80\x04)") + frame(head.size()) + head + pb(R"(\x8e\x03\x00\x00\x00\x00\x00\x00\x00xyz)") +
                          frame(0) + frame(tail.size()) + tail;
    decoding d = dec(p);
    ASSERT_TRUE(d.complete()) << d.failure->reason;
    EXPECT_EQ(to_json(d.graph, *d.root).value(), R"([1, {"$bytes": "eHl6"}, 2])");
}

TEST_F(Frames, RawReadAfterBuildInsideAFrameIsMalformed) {
    // joblib's NumpyUnpickler reads array bytes from the file after BUILD,
    // past pickle.py's _Unframer: inside a frame they come from after it.
    decode_options o;
    o.after_build = [](std::span<const std::byte>, const value_graph&, value_ref, std::uint64_t) -> std::uint64_t {
        return 3;
    };
    const std::string obj = pb(R"(cmylib\nArr\n)\x81}b)");
    decoding d = dec(pb(R"(\x80\x04)") + frame(obj.size() + 1) + obj + "." + "abc", o);
    EXPECT_TRUE(malformed_with(d, "raw data the loader reads after BUILD"));
    // The frame ends with the BUILD, as joblib's pickler writes it: fine.
    d = dec(pb(R"(\x80\x04)") + frame(obj.size()) + obj + "abc.", o);
    EXPECT_TRUE(d.complete()) << d.failure->reason;
}

// ---- pickle.py against _pickle.c, beyond frames (docs/unpicklers.md) --------

TEST_F(Frames, EmptyAppendsOnAGlobalIsAMutationForPicklePy) {
    // _pickle.c does nothing for an empty APPENDS; pickle.py calls
    // target.extend([]) all the same.
    const std::string p = pb(R"(cmylib\nRegistry\n(e.)");
    EXPECT_EQ(scan(pb(R"(cmylib\nRegistry\n.)")).verdict, verdict::safe);
    decoding d = dec(p);
    ASSERT_TRUE(d.complete());
    bool appended = false;
    for (const event& e : d.events) appended |= e.kind == event_kind::append;
    EXPECT_TRUE(appended);
    EXPECT_NE(scan(p).verdict, verdict::safe);
}

TEST_F(Frames, IntBoolSpellingThatOnlyCReadsAsABoolIsMalformed) {
    // "I+1" is True to _pickle.c (any 2-char 0/1) and 1 to pickle.py.
    EXPECT_TRUE(malformed_with(dec(pb(R"(I+1\n.)")), "bool for _pickle.c but an int for pickle.py"));
    EXPECT_TRUE(dec(pb(R"(I01\n.)")).complete());
}

}  // namespace
}  // namespace pickleguard
