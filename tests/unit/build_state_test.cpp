// State an entry constrains: `build-dict` (BUILD with dict state only) and
// `empty_state_keys` (keys that must hold an empty container nothing fills).
// One test per technique; every pickle is built byte by byte through pb()
// and never unpickled. Each test fails when its check in judge.cpp
// (check_constrained_state, check_empty_state_keys) is removed.
#include "pickleguard/scan.hpp"

#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace pickleguard {
namespace {

using testing::pb;

// mylib.Sparse stands for scipy's csr_matrix: its shape setter must not run
// with a pickle's values, so only dict state may be applied. mylib.Module
// stands for torch's nn.Module: its hooks must be empty.
constexpr const char* kPolicy = R"(
name = "test"

[[allow]]
module = "mylib"
name = "Sparse"
uses = ["new", "build-dict", "reference"]

[[allow]]
module = "mylib"
name = "Called"
uses = ["call", "build-dict"]

[[allow]]
module = "mylib"
name = "Both"
uses = ["new", "build", "build-dict"]

[[allow]]
module = "mylib"
name = "Module"
uses = ["new", "build"]
empty_state_keys = ["_forward_hooks"]

[[allow]]
module = "collections"
name = "OrderedDict"
uses = ["call", "setitem"]

[[allow]]
module = "builtins"
name = "dict"
uses = ["call"]
)";

class BuildState : public ::testing::Test {
protected:
    BuildState() : policy_(parse_policy(kPolicy, "test.toml").value()) {}
    file_report scan(const std::string& pickle) {
        pickle_ = pickle;
        return scan_bytes(std::as_bytes(std::span(pickle_.data(), pickle_.size())), policy_, {}, "test.pkl");
    }
    static const finding* find(const file_report& r, std::string_view rule) {
        auto it = std::find_if(r.findings.begin(), r.findings.end(), [&](const finding& f) { return f.rule == rule; });
        return it == r.findings.end() ? nullptr : &*it;
    }
    static std::string all(const file_report& r) {
        std::string s;
        for (const finding& f : r.findings) s += f.rule + ": " + f.message + "\n";
        return s;
    }
    policy policy_;
    std::string pickle_;
};

// NEWOBJ mylib.Sparse(), then BUILD.
const std::string kSparse = R"(\x80\x02cmylib\nSparse\n)\x81)";
// NEWOBJ mylib.Module(), then the state dict's key.
const std::string kModule = R"(\x80\x02cmylib\nModule\n)\x81}X\x0e\x00\x00\x00_forward_hooks)";

TEST_F(BuildState, SlotStateRunsPropertySetter) {
    // (None, {'shape': 1}): load_build setattr()s 'shape', running the setter.
    auto r = scan(pb(kSparse + R"(N}X\x05\x00\x00\x00shapeK\x01s\x86b.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "state-not-allowed");
    ASSERT_NE(f, nullptr) << all(r);
    EXPECT_NE(f->message.find("mylib.Sparse"), std::string::npos) << f->message;
    EXPECT_NE(f->message.find("setattr"), std::string::npos) << f->message;
    EXPECT_EQ(f->module, "mylib");
    // The report still says what the pickle does with the class: build.
    auto g = std::find_if(r.globals.begin(), r.globals.end(), [](const global_report& x) { return x.name == "Sparse"; });
    ASSERT_NE(g, r.globals.end());
    EXPECT_FALSE(g->allowed);
    EXPECT_TRUE(g->uses & uses::build);
}

TEST_F(BuildState, SlotStateBesideDictState) {
    // ({'a': 1}, {'shape': 1}) and even an empty slot dict ({'a': 1}, {}).
    for (const char* tail : {R"(}X\x01\x00\x00\x00aK\x01s}X\x05\x00\x00\x00shapeK\x01s\x86b.)",
                             R"(}X\x01\x00\x00\x00aK\x01s}\x86b.)"}) {
        auto r = scan(pb(kSparse + tail));
        EXPECT_EQ(r.verdict, verdict::unsafe) << tail;
        EXPECT_NE(find(r, "state-not-allowed"), nullptr) << tail << "\n" << all(r);
    }
}

TEST_F(BuildState, DictStateWritesDictWithoutSetattr) {
    // {'shape': 1}: written into __dict__, the setter never runs.
    auto r = scan(pb(kSparse + R"(}X\x05\x00\x00\x00shapeK\x01sb.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << all(r);
}

TEST_F(BuildState, DictStateWithNoneSlotState) {
    // ({'shape': 1}, None): pickle.py skips the None; _pickle.c raises after the dict.
    auto r = scan(pb(kSparse + R"(}X\x05\x00\x00\x00shapeK\x01sN\x86b.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << all(r);
}

TEST_F(BuildState, ComputedStateUnderBuildDict) {
    // State made by a call (an OrderedDict, or a computed tuple): not known
    // to be dict state, so refused as build-dict (and as computed state).
    for (const char* tail : {R"(ccollections\nOrderedDict\n)Rb.)", R"(cbuiltins\ndict\n)RN\x86b.)",
                             R"(]b.)", R"(NN\x86b.)"}) {
        auto r = scan(pb(kSparse + tail));
        EXPECT_EQ(r.verdict, verdict::unsafe) << tail;
        const finding* f = find(r, "state-not-allowed");
        ASSERT_NE(f, nullptr) << tail << "\n" << all(r);
        EXPECT_NE(f->message.find("mylib.Sparse"), std::string::npos) << f->message;
    }
}

TEST_F(BuildState, SlotStateOnInstancesMadeOtherwise) {
    // INST and OBJ call the class; copyreg._reconstructor (protocols 0 and
    // 1) instantiates it: BUILD's slot state reaches the same setters.
    auto with_python = parse_policy(std::string("include = [\"python\"]\n") + kPolicy, "t.toml");
    ASSERT_TRUE(with_python) << with_python.error().reason;
    const std::string slots = R"(N}X\x05\x00\x00\x00shapeK\x01s\x86b.)";
    for (const std::string& head : {std::string(R"((imylib\nCalled\n)"), std::string(R"((cmylib\nCalled\no)"),
                                    std::string(R"(ccopyreg\n_reconstructor\n(cmylib\nSparse\ncbuiltins\nobject\nNtR)")}) {
        pickle_ = pb(head + slots);
        auto r = scan_bytes(std::as_bytes(std::span(pickle_.data(), pickle_.size())), with_python.value(), {}, "t.pkl");
        EXPECT_EQ(r.verdict, verdict::unsafe) << head;
        EXPECT_NE(find(r, "state-not-allowed"), nullptr) << head << "\n" << all(r);
        // The same instance with dict state is safe.
        pickle_ = pb(head + R"(}X\x05\x00\x00\x00shapeK\x01sb.)");
        r = scan_bytes(std::as_bytes(std::span(pickle_.data(), pickle_.size())), with_python.value(), {}, "t.pkl");
        EXPECT_EQ(r.verdict, verdict::safe) << head << "\n" << all(r);
    }
}

TEST_F(BuildState, BuildTwiceSecondWithSlotState) {
    auto r = scan(pb(kSparse + R"(}X\x01\x00\x00\x00aK\x01sbN}X\x05\x00\x00\x00shapeK\x01s\x86b.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "state-not-allowed"), nullptr) << all(r);
}

TEST_F(BuildState, BuildImpliesBuildDict) {
    auto r = scan(pb(R"(\x80\x02cmylib\nBoth\n)\x81N}X\x05\x00\x00\x00shapeK\x01s\x86b.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << all(r);
    EXPECT_EQ(find(r, "state-not-allowed"), nullptr);
}

TEST_F(BuildState, HooksFilledBySetitems) {
    // _forward_hooks = OrderedDict() then SETITEMS {1: 2} on it, inline.
    auto r = scan(pb(kModule + R"(ccollections\nOrderedDict\n)R(K\x01K\x02usb.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "state-not-allowed");
    ASSERT_NE(f, nullptr) << all(r);
    EXPECT_NE(f->message.find("_forward_hooks"), std::string::npos) << f->message;
    EXPECT_NE(f->message.find("mylib.Module"), std::string::npos) << f->message;
}

TEST_F(BuildState, HooksFilledThroughMemoAfterBuild) {
    // Empty when BUILD runs, filled afterwards through the memo: the
    // instance's __dict__ holds that same OrderedDict.
    auto r = scan(pb(kModule + R"(ccollections\nOrderedDict\n)Rq\x01sbh\x01(K\x01K\x02u0.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "state-not-allowed"), nullptr) << all(r);
}

TEST_F(BuildState, HooksFilledThroughMemoBeforeBuild) {
    auto r = scan(pb(R"(\x80\x02ccollections\nOrderedDict\n)Rq\x01(K\x01K\x02u0)"
                     R"(cmylib\nModule\n)\x81}X\x0e\x00\x00\x00_forward_hooksh\x01sb.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "state-not-allowed"), nullptr) << all(r);
}

TEST_F(BuildState, PlainDictHooksFilledThroughMemo) {
    // EMPTY_DICT as the hooks, given an item by SETITEM after the BUILD.
    auto r = scan(pb(kModule + R"(}q\x01sbh\x01K\x01K\x02s0.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "state-not-allowed"), nullptr) << all(r);
}

TEST_F(BuildState, HooksMadeWithArguments) {
    // OrderedDict([(1, 2)]): a call with arguments is not an empty container.
    auto r = scan(pb(kModule + R"(ccollections\nOrderedDict\n]K\x01K\x02\x86a\x85Rsb.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "state-not-allowed"), nullptr) << all(r);
}

TEST_F(BuildState, HooksInSlotStateOrUnreadableState) {
    for (const char* p : {R"(\x80\x02cmylib\nModule\n)\x81N}X\x0e\x00\x00\x00_forward_hooksK\x01s\x86b.)",
                          R"(\x80\x02cmylib\nModule\n)\x81ccollections\nOrderedDict\n)Rb.)"}) {
        auto r = scan(pb(p));
        EXPECT_EQ(r.verdict, verdict::unsafe) << p;
        EXPECT_NE(find(r, "state-not-allowed"), nullptr) << p << "\n" << all(r);
    }
}

TEST_F(BuildState, EmptyHooksPass) {
    for (const char* tail : {R"(ccollections\nOrderedDict\n)Rsb.)", R"(}sb.)", R"(cbuiltins\ndict\n)Rsb.)"}) {
        auto r = scan(pb(kModule + tail));
        EXPECT_EQ(r.verdict, verdict::safe) << tail << "\n" << all(r);
    }
    // Keys not listed may hold anything.
    auto r = scan(pb(R"(\x80\x02cmylib\nModule\n)\x81}X\x01\x00\x00\x00xK\x01sb.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << all(r);
}

TEST_F(BuildState, PolicyReaderKeepsTheConstraints) {
    const allow_entry* m = policy_.find("mylib", "Module");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->empty_state_keys, std::vector<std::string>{"_forward_hooks"});
    EXPECT_EQ(policy_.find("mylib", "Sparse")->uses, uses::instantiate | uses::build_dict | uses::reference);
    EXPECT_FALSE(parse_policy("[[allow]]\nmodule = \"m\"\nname = \"C\"\nempty_state_keys = \"x\"\n", "t.toml"));
    // Two entries: only keys both constrain stay constrained.
    auto two = parse_policy(
        "name = \"t\"\n[[allow]]\nmodule = \"m\"\nname = \"C\"\nuses = [\"build\"]\nempty_state_keys = [\"a\", \"b\"]\n"
        "[[allow]]\nmodule = \"m\"\nname = \"C\"\nuses = [\"build\"]\nempty_state_keys = [\"b\"]\n",
        "t.toml");
    ASSERT_TRUE(two) << two.error().reason;
    EXPECT_EQ(two.value().find("m", "C")->empty_state_keys, std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace pickleguard
