// State and keys computed while loading: the names a BUILD sets and the
// hashes a dict's keys have are only known once the loader has run the calls
// that make them. One test per technique (found by attacking the issue 12/13
// fixes as a reader of our source would), built byte by byte; each input was
// also run through _pickle.c and pickle._Unpickler with a recording
// find_class (never a real load), which reached the payload named.
#include "judge_fixture.hpp"
#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

namespace pickleguard {
namespace {

using testing::pb;

// Read as `pickleguard scan` reads a file: the format is recognised first.
class ComputedState : public testing::JudgeTest {
protected:
    ComputedState() : JudgeTest(read_as::file) {}
};

// 2**36 as LONG1, then BUILD: the second BUILD calls what the first stored
// as __setstate__.
const std::string kBuildTwoTo36 = pb(R"(\x8a\x05\x00\x00\x00\x00\x10b.)");
// OrderedDict([('__setstate__', bytes)]): a mapping made by an allowed call.
const std::string kComputedMapping =
    pb(R"(ccollections\nOrderedDict\n(]X\x0c\x00\x00\x00__setstate__cbuiltins\nbytes\n\x86atR)");

// load_build takes any mapping as dict state (PyDict_Check), so an
// OrderedDict built by an allowed call stores __setstate__ = bytes, and the
// next BUILD runs bytes(2**36).
TEST_F(ComputedState, MappingMadeByAnAllowedCallAsBuildState) {
    auto r = scan("default", pb(R"(\x80\x02ccollections\nOrderedDict\n)R)") + kComputedMapping + "b" + kBuildTwoTo36);
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "dunder-build-state", "dict state computed while loading")) << rules(r);
}

// The (None, slotstate) form: setattr for each item of a computed mapping.
TEST_F(ComputedState, MappingMadeByAnAllowedCallAsSlotState) {
    auto r = scan("default", pb(R"(\x80\x02ccollections\nOrderedDict\n)RN)") + kComputedMapping + "\x86" + "b" +
                                 kBuildTwoTo36);
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "dunder-build-state", "slot state computed while loading")) << rules(r);
}

// {numpy.str_('__setstate__'): bytes}: the key is a str subclass made by
// numpy.core.multiarray.scalar, so the instance __dict__ gets __setstate__.
TEST_F(ComputedState, StrSubclassKeyInBuildState) {
    auto r = scan("default", pb(R"(\x80\x03ccollections\nOrderedDict\n)R}cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x03\x00\x00\x00U12\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNK0K\x04K\x08tbC0_\x00\x00\x00_\x00\x00\x00s\x00\x00\x00e\x00\x00\x00t\x00\x00\x00s\x00\x00\x00t\x00\x00\x00a\x00\x00\x00t\x00\x00\x00e\x00\x00\x00_\x00\x00\x00_\x00\x00\x00\x86Rcbuiltins\nbytes\nsb\x8a\x05\x00\x00\x00\x00\x10b.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "dunder-build-state", "a key of the dict state computed while loading")) << rules(r);
}

// A joblib wrapper whose state has 'shape' twice: the str key and
// numpy.str_('shape'), which CPython merges (the later value wins) but the
// decoder keeps apart. joblib skips 5 bytes and unpickles os.system after
// them; reading the str key's shape would skip the whole payload.
TEST_F(ComputedState, StrSubclassKeyInJoblibWrapperState) {
    auto r = scan("sklearn", pb(R"(\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(X\x08\x00\x00\x00subclasscnumpy\nndarray\nX\x05\x00\x00\x00orderX\x01\x00\x00\x00CX\x05\x00\x00\x00dtypecnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87RX\n\x00\x00\x00allow_mmap\x89X\x05\x00\x00\x00shapeK\x1a\x85cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00U5\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\x14\x00\x00\x00K\x04K\x08tbC\x14s\x00\x00\x00h\x00\x00\x00a\x00\x00\x00p\x00\x00\x00e\x00\x00\x00\x86RK\x05\x85ubB\x15\x00\x00\x00cos\nsystem\nX\x02\x00\x00\x00id\x85R..)"));
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "joblib-array-unreadable", "computed while loading")) << rules(r);
}

// sklearn's newObj(NumpyArrayWrapper): joblib's isinstance test sees a
// wrapper and reads raw bytes after it; the wrapper is not one we follow.
TEST_F(ComputedState, JoblibWrapperMadeByAnotherCallable) {
    auto r = scan("sklearn", pb(R"(\x80\x02csklearn.neighbors._kd_tree\nnewObj\ncjoblib.numpy_pickle\nNumpyArrayWrapper\n\x85R}(X\x08\x00\x00\x00subclasscnumpy\nndarray\nX\x05\x00\x00\x00shapeK\x05\x85X\x05\x00\x00\x00orderX\x01\x00\x00\x00CX\x05\x00\x00\x00dtypecnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87RX\n\x00\x00\x00allow_mmap\x89ubB\x15\x00\x00\x00cos\nsystem\nX\x02\x00\x00\x00id\x85R.0.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "joblib-array-unreadable", "made by another callable")) << rules(r);
}

// Keys made by an allowed call (Decimal(k * (2**61 - 1)) all hash to 0) have
// hashes the decoder cannot compute: they count as colliding with every key
// already in the dict. n keys -> n*(n-1)/2 > max_hash_collisions (2**24)
// for n = 6000.
std::string dict_of_computed_keys(int n) {
    std::string p = pb(R"(\x80\x02}cdecimal\nDecimal\nq\x00)") + "0";  // the class memoized, then popped
    for (int k = 0; k < n; ++k) {
        if (k % 1000 == 0) p += "(";
        p += "h";
        p += '\0';
        p += "J";
        for (int b = 0; b < 4; ++b) p += static_cast<char>((k >> (8 * b)) & 0xff);
        p += "\x85RN";
        if (k % 1000 == 999 || k == n - 1) p += "u";
    }
    return p + ".";
}

TEST_F(ComputedState, HashFloodWithKeysMadeByAnAllowedCall) {
    auto r = scan("default", dict_of_computed_keys(6000));
    EXPECT_EQ(r.verdict, verdict::unsafe) << rules(r);
    EXPECT_TRUE(has(r, "hash-collisions")) << rules(r);
}

TEST_F(ComputedState, FewKeysMadeByAnAllowedCallStayClean) {
    auto r = scan("default", dict_of_computed_keys(1000));
    EXPECT_EQ(r.verdict, verdict::safe) << rules(r);
}

}  // namespace
}  // namespace pickleguard
