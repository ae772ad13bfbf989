// Issue 15, computed callables that are exact: a functools.partial of a
// named global, called, is judged as the call it makes; every other partial
// stays a call of a computed value. One test per technique, named after it,
// each pickle built byte by byte; nothing is ever unpickled.
#include "pickleguard/scan.hpp"

#include "judge_fixture.hpp"
#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace pickleguard {
namespace {

using testing::pb;

// m.f is bounded, m.h may only be referenced, m.g calls its first argument
// (invokes), m.k is any allowed callable: it may call what it is given.
constexpr const char* kPolicy = R"(
name = "t"
[[allow]]
module = "functools"
name = "partial"
uses = ["call", "build"]
[[allow]]
module = "m"
name = "f"
uses = ["call", "reference"]
max_int_arg = 100
str_arg_pattern = "[a-z]+"
[[allow]]
module = "m"
name = "h"
uses = ["reference"]
[[allow]]
module = "m"
name = "g"
uses = ["call", "reference"]
invokes = [{ arg = 0, use = "call" }]
[[allow]]
module = "m"
name = "k"
uses = ["call"]
)";

class Partial : public testing::JudgeTest {
protected:
    // Under kPolicy, unless the test writes its own.
    file_report scan(const std::string& pickle, const char* policy_text = kPolicy) {
        return scan_text(policy_text, pickle);
    }
};

const std::string kPartial = pb(R"(\x80\x02cfunctools\npartial\n)");

// The techniques whose pickle, under kPolicy, is unsafe and says so in one
// finding: one row each, named after the technique.
struct unsafe_case {
    const char* technique;
    std::string pickle;
    const char* rule;
    const char* says;  // a piece of the finding's message
};
// gtest names a failing row by its technique, not by its bytes.
void PrintTo(const unsafe_case& c, std::ostream* os) { *os << c.technique; }

const unsafe_case kUnsafeCases[] = {
    // partial(m.h)(): m.h is allowed as a reference only, so the call through
    // the partial is a use the entry does not allow.
    {"PartialCallNeedsTheCallUseOfItsCallable", kPartial + pb(R"(cm\nh\n\x85R)R.)"), "use-not-allowed", "m.h"},
    // partial(m.f) then BUILD (m.h, (), None, None): partial.__setstate__ sets
    // func from the state, so the call would be m.h().
    {"PartialWithBuildStateReplacingFuncIsUnsafe",
     kPartial + pb(R"(cm\nf\n\x85R(cm\nh\n)NNtb)R.)"),
     "call-of-computed-value", "replaces the callable"},
    // BUILD state with a __dict__ of the partial's own ('__setstate__': m.h):
    // a second BUILD would call it; refused even with one BUILD.
    {"PartialWithBuildStateDictIsUnsafe",
     kPartial + pb(R"(cm\nf\n\x85R(cm\nf\n)N}X\x0c\x00\x00\x00__setstate__cm\nh\nstb)R.)"),
     "call-of-computed-value", "__dict__"},
    // Two BUILDs: the second could replace what the first set after a call.
    {"PartialBuiltTwiceIsUnsafe",
     kPartial + pb(R"(cm\nf\n\x85R(cm\nf\n)NNtb(cm\nf\n)NNtb)R.)"),
     "call-of-computed-value", "more than once"},
    // partial(partial(m.f, 'a'), 'b')(): the inner partial sits in the outer's
    // argument tuple, where nothing tells it from an escape, and the outer's
    // callable is not a named global.
    {"NestedPartialIsUnsafe",
     kPartial + kPartial.substr(2) + pb(R"(cm\nf\nX\x01\x00\x00\x00a\x86RX\x01\x00\x00\x00b\x86R)R.)"),
     "call-of-computed-value", "not a named global"},
    // A keyword dict shared through the memo can be changed by SETITEM after
    // the call, and the graph holds only its last value: a bounded callee's
    // keywords are never trusted, even when they look in bounds.
    {"PartialKeywordsRewrittenAfterTheCallAreUnknown",
     kPartial + pb(R"(cm\nf\n\x85R(cm\nf\n)}q\x01X\x01\x00\x00\x00nM\xe8\x03sNtb)R0h\x01X\x01\x00\x00\x00nK\x01s.)"),
     "argument-not-allowed", "computed while loading"},
    // Keyword values that are not plain (a global in kwds) make the partial inexact.
    {"PartialWithComputedKeywordValueIsUnsafe",
     kPartial + pb(R"(cm\ng\n\x85R(cm\ng\n)}X\x04\x00\x00\x00funccos\nsystem\nsNtb)R.)"),
     "call-of-computed-value", "keywords are not a dict of plain values"},
    // partial(m.g, m.h)(): the bound argument reaches m.g's invokes, so m.h
    // is called, a use its entry does not allow.
    {"PartialArgumentsReachInvokes", kPartial + pb(R"(cm\ng\ncm\nh\n\x86R)R.)"), "use-not-allowed", "m.h"},
    // A keyword may bind the parameter an invoking callee calls.
    {"PartialKeywordsToInvokingCallableAreUnsafe",
     kPartial + pb(R"(cm\ng\n\x85R(cm\ng\n)}X\x04\x00\x00\x00funcK\x01sNtb)R.)"),
     "call-of-computed-value", "keyword arguments"},
};

class PartialUnsafe : public Partial, public ::testing::WithParamInterface<unsafe_case> {};

TEST_P(PartialUnsafe, Technique) {
    const unsafe_case& c = GetParam();
    auto r = scan(c.pickle);
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, c.rule, c.says), nullptr) << rules(r);
}

INSTANTIATE_TEST_SUITE_P(Partial, PartialUnsafe, ::testing::ValuesIn(kUnsafeCases),
                         [](const ::testing::TestParamInfo<unsafe_case>& info) {
                             return std::string(info.param.technique);
                         });

// partial(m.f, 'a')(): m.f('a'), within its bounds.
TEST_F(Partial, PartialOfAllowedCallablePasses) {
    auto r = scan(kPartial + pb(R"(cm\nf\nX\x01\x00\x00\x00a\x86R)R.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << rules(r);
    EXPECT_NE(find(r, "exact-partial", "m.f"), nullptr) << rules(r);
}

// partial(os.system, 'id')(): a call of os.system, which no entry allows.
TEST_F(Partial, PartialOfNotAllowedGlobalIsGlobalNotAllowed) {
    auto r = scan(kPartial + pb(R"(cos\nsystem\nX\x02\x00\x00\x00id\x86R)R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "global-not-allowed", "os.system"), nullptr) << rules(r);
    EXPECT_NE(find(r, "global-not-allowed", "call"), nullptr) << rules(r);
}

// p = partial(m.f), memoized; p('a'), then p(1000) through BINGET: each
// call is judged with its own arguments.
TEST_F(Partial, PartialStoredAndReusedViaMemoIsJudgedEachUse) {
    auto r = scan(kPartial + pb(R"(cm\nf\n\x85Rq\x00X\x01\x00\x00\x00a\x85R0h\x00M\xe8\x03\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "argument-not-allowed", "1000"), nullptr) << rules(r);
    auto ok = scan(kPartial + pb(R"(cm\nf\n\x85Rq\x00X\x01\x00\x00\x00a\x85R0h\x00Kc\x85R.)"));
    EXPECT_EQ(ok.verdict, verdict::safe) << rules(ok);
}

// Keywords bound by BUILD state are arguments of the call: {'n': 1000}
// breaks max_int_arg, {'s': 'A!'} str_arg_pattern.
TEST_F(Partial, PartialWithKeywordsViolatingBoundsIsUnsafe) {
    auto big = scan(kPartial + pb(R"(cm\nf\n\x85R(cm\nf\n)}X\x01\x00\x00\x00nM\xe8\x03sNtb)R.)"));
    EXPECT_EQ(big.verdict, verdict::unsafe);
    EXPECT_NE(find(big, "argument-not-allowed", "keyword argument 'n' = 1000"), nullptr) << rules(big);
    auto text = scan(kPartial + pb(R"(cm\nf\n\x85R(cm\nf\n)}X\x01\x00\x00\x00sX\x02\x00\x00\x00A!sNtb)R.)"));
    EXPECT_EQ(text.verdict, verdict::unsafe);
    EXPECT_NE(find(text, "argument-not-allowed", "keyword argument 's' = 'A!'"), nullptr) << rules(text);
}

// m.k(partial(m.f, 'id')): an allowed callable handed the partial may call
// it with anything; so may whoever gets it back from pickle.load.
TEST_F(Partial, PartialEscapingAsArgumentIsUnsafe) {
    auto r = scan(kPartial.substr(0, 2) + pb(R"(cm\nk\ncfunctools\npartial\ncm\nf\nX\x02\x00\x00\x00id\x86R\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "call-of-computed-value", "put in a container"), nullptr) << rules(r);
    auto returned = scan(kPartial + pb(R"(cm\nf\nX\x02\x00\x00\x00id\x86R.)"));
    EXPECT_EQ(returned.verdict, verdict::unsafe);
    EXPECT_NE(find(returned, "call-of-computed-value", "returned"), nullptr) << rules(returned);
}

// partial made by NEWOBJ (partial.__new__(partial, m.f)): not a plain call.
TEST_F(Partial, PartialMadeByNewobjIsUnsafe) {
    constexpr const char* kNew = R"(
name = "t"
[[allow]]
module = "functools"
name = "partial"
uses = ["new", "build"]
[[allow]]
module = "m"
name = "f"
uses = ["call", "reference"]
)";
    auto r = scan(kPartial + pb(R"(cm\nf\n\x85\x81)R.)"), kNew);
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "call-of-computed-value"), nullptr) << rules(r);
}

// Without an entry for functools.partial nothing changes: the call of the
// partial stays a call of a computed value.
TEST_F(Partial, PartialWithoutPolicyEntryStaysComputed) {
    auto r = scan(kPartial + pb(R"(cm\nf\nX\x01\x00\x00\x00a\x86R)R.)"), R"(
name = "t"
[[allow]]
module = "m"
name = "f"
uses = ["call", "reference"]
)");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "call-of-computed-value", "a value made while loading"), nullptr) << rules(r);
    EXPECT_EQ(find(r, "exact-partial"), nullptr) << rules(r);
}

// Real sympy 1.11 Symbols with assumptions (tests/fixtures/sympy_partial,
// written by make_sympy_partial_fixtures.py): at protocol 2 a partial of
// getattr(Symbol, '__new__') with BUILD state, at protocol 4 NEWOBJ_EX.
// Both pass under a policy that allows what they need, and the protocol 2
// ones only because the partial is read as the call it makes.
TEST_F(Partial, SympySymbolFixturesPass) {
    std::ifstream policy_in(PICKLEGUARD_SOURCE_DIR "/tests/fixtures/sympy_partial/sympy_partial_test.toml");
    ASSERT_TRUE(policy_in);
    std::string policy_text((std::istreambuf_iterator<char>(policy_in)), std::istreambuf_iterator<char>());
    for (const char* name : {"symbol_positive.p2.pkl", "symbol_positive.p4.pkl", "symbol_integer.p2.pkl",
                             "symbol_integer.p4.pkl"}) {
        std::ifstream in(std::string(PICKLEGUARD_SOURCE_DIR "/tests/fixtures/sympy_partial/") + name, std::ios::binary);
        ASSERT_TRUE(in) << name;
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto r = scan(bytes, policy_text.c_str());
        EXPECT_EQ(r.verdict, verdict::safe) << name << "\n" << rules(r);
        if (std::string_view(name).find(".p2.") != std::string_view::npos) {
            EXPECT_NE(find(r, "exact-partial", "Symbol.__new__"), nullptr) << name << "\n" << rules(r);
        }
    }
}

// Keywords to an invoking callee whose invoked argument is given by
// position cannot bind it: the sympy shape, Symbol.__new__(cls, name, **kw).
TEST_F(Partial, PartialKeywordsBesidePositionalInvokedArgumentPass) {
    auto r = scan(kPartial + pb(R"(cm\ng\n\x85R(cm\ng\n(cm\nf\ntq\x02}X\x01\x00\x00\x00nK\x01sNtb)R.)"));
    EXPECT_NE(find(r, "exact-partial", "m.g"), nullptr) << rules(r);
    EXPECT_EQ(find(r, "call-of-computed-value"), nullptr) << rules(r);
}

// partial(pickle.loads, b'...')(): the bytes are a pickle the call loads,
// judged as the nested pickle of a direct pickle.loads call is.
TEST_F(Partial, PartialOfNestedLoaderScansTheBytes) {
    constexpr const char* kLoads = R"(
name = "t"
[[allow]]
module = "functools"
name = "partial"
uses = ["call", "build"]
[[allow]]
module = "pickle"
name = "loads"
uses = ["call", "reference"]
)";
    const std::string inner = pb(R"(cos\nsystem\nX\x02\x00\x00\x00id\x85R.)");
    auto r = scan(kPartial + pb(R"(cpickle\nloads\nC)") + std::string(1, static_cast<char>(inner.size())) + inner +
                      pb(R"(\x86R)R.)"),
                  kLoads);
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "os.system"), nullptr) << rules(r);
}

}  // namespace
}  // namespace pickleguard
