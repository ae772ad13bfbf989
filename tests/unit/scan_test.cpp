// The scanner against the techniques used to get past other scanners.
// One test per technique, named after it. Every pickle is built byte by byte
// (as a Python bytes literal through pb()); nothing is ever unpickled.
#include "pickleguard/scan.hpp"

#include "pickle_bytes.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace pickleguard {
namespace {

using testing::pb;

// A small policy of our own, so the tests do not move when shipped ones do.
constexpr const char* kPolicy = R"(
name = "test"
description = "plain data plus a few classes"

[[allow]]
module = "builtins"
name = "set"
uses = ["call"]

[[allow]]
module = "collections"
name = "OrderedDict"
uses = ["call", "setitem"]

[[allow]]
module = "builtins"
name = "list"

[[allow]]
module = "mylib"
name = "Point"
uses = ["new", "build"]

[[allow]]
module_pattern = "numpy(\\..*)?"
name_pattern = ".*"
uses = ["call"]
)";

class Scan : public ::testing::Test {
protected:
    Scan() : policy_(parse_policy(kPolicy, "test.toml").value()) {}

    file_report scan(const std::string& pickle) { return scan_under(policy_, pickle); }
    file_report scan_under(const policy& p, const std::string& pickle) {
        pickle_ = pickle;  // the report holds no views, but keep the input alive anyway
        return scan_bytes(std::as_bytes(std::span(pickle_.data(), pickle_.size())), p, {}, "test.pkl");
    }
    static const finding* find(const file_report& r, std::string_view rule) {
        auto it = std::find_if(r.findings.begin(), r.findings.end(), [&](const finding& f) { return f.rule == rule; });
        return it == r.findings.end() ? nullptr : &*it;
    }
    static bool has_global(const file_report& r, std::string_view module, std::string_view name, bool allowed) {
        return std::any_of(r.globals.begin(), r.globals.end(), [&](const global_report& g) {
            return g.module == module && g.name == name && g.allowed == allowed;
        });
    }

    policy policy_;
    std::string pickle_;
};

TEST_F(Scan, PlainDataIsSafe) {
    auto r = scan(pb(R"(\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.)"));
    EXPECT_EQ(r.verdict, verdict::safe);
    EXPECT_TRUE(r.findings.empty());
}

TEST_F(Scan, OsSystemThroughGlobalAndReduce) {
    auto r = scan(pb(R"(cos\nsystem\n(S'id'\ntR.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "global-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->severity, severity::critical);  // from the knowledge base
    EXPECT_EQ(f->module, "os");
    EXPECT_EQ(f->name, "system");
    EXPECT_EQ(f->offset, 0u);
    // A critical gadget gets no recipe for allowing it (issue 17); an
    // unknown global, which a policy may reasonably allow, does.
    EXPECT_EQ(f->message.find("[[allow]]"), std::string::npos) << f->message;
    EXPECT_NE(f->message.find("No policy should allow it"), std::string::npos) << f->message;
    auto unknown = scan(pb(R"(\x80\x04\x8c\x0bharmlesslib\x8c\x05Thing\x93).)"));
    const finding* u = find(unknown, "global-not-allowed");
    ASSERT_NE(u, nullptr);
    EXPECT_NE(u->message.find("[[allow]] module = \"harmlesslib\" name = \"Thing\""), std::string::npos)
        << u->message;  // says how to allow it
}

TEST_F(Scan, PipMainIsNotAllowedEvenIfNoDenyListKnowsIt) {
    auto r = scan(pb(R"(\x80\x04\x8c\x03pip\x8c\x04main\x93\x8c\x07install\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "pip", "main", false));
}

TEST_F(Scan, UnknownGlobalIsUnsafeWithoutKnowledgeBaseEntry) {
    auto r = scan(pb(R"(\x80\x04\x8c\x0bharmlesslib\x8c\x05Thing\x93).)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "global-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->severity, severity::high);
}

TEST_F(Scan, BuiltinEvalUnderProtocolTwoIsResolvedByFixImports) {
    // Python 2's __builtin__ becomes builtins below protocol 3.
    auto r = scan(pb(R"(\x80\x02c__builtin__\neval\nX\x04\x00\x00\x001+1\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "builtins", "eval", false));
    ASSERT_NE(find(r, "fix-imports-remap"), nullptr);
    EXPECT_EQ(find(r, "global-not-allowed")->severity, severity::critical);
}

TEST_F(Scan, CommandsGetoutputBecomesSubprocess) {
    auto r = scan(pb(R"(\x80\x02ccommands\ngetoutput\nX\x02\x00\x00\x00id\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "subprocess", "getoutput", false));
}

TEST_F(Scan, SameBytesUnderProtocolFourAreNotRemapped) {
    // The protocol in force changes at each PROTO: the second name is read
    // under protocol 4 and stays __builtin__.
    auto r = scan(pb(R"(\x80\x02c__builtin__\nset\n)\x80\x04c__builtin__\nset\n\x86.)"));
    EXPECT_TRUE(has_global(r, "builtins", "set", true));
    EXPECT_TRUE(has_global(r, "__builtin__", "set", false));
}

TEST_F(Scan, DottedNameShutilOsSystem) {
    auto r = scan(pb(R"(\x80\x04\x8c\x06shutil\x8c\tos.system\x93\x8c\x02id\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "shutil", "os.system", false));
    ASSERT_NE(find(r, "dotted-name"), nullptr);
    EXPECT_EQ(find(r, "global-not-allowed")->severity, severity::critical);  // explained as os.system
}

TEST_F(Scan, PatternAllowingAllOfNumpyNeverAllowsADottedName) {
    auto r = scan(pb(R"(\x80\x04\x8c\x05numpy\x8c\tos.system\x93\x8c\x02id\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "numpy", "os.system", false));
    auto ok = scan(pb(R"(\x80\x04\x8c\x05numpy\x8c\x05zeros\x93K\x01\x85R.)"));
    EXPECT_EQ(ok.verdict, verdict::safe);
}

TEST_F(Scan, StackGlobalStringsRoutedThroughTheMemo) {
    auto r = scan(pb(R"(\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x02id\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "os", "system", false));
}

TEST_F(Scan, StackGlobalWithComputedStringsFailsClosed) {
    // The module name is the result of a call: nothing static can resolve it.
    auto r = scan(pb(R"(\x80\x04\x8c\x08builtins\x8c\x03str\x93)R\x8c\x06system\x93.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "malformed-pickle"), nullptr);
}

TEST_F(Scan, ExtensionCodeRegisteredByThePickleItself) {
    // copyreg.add_extension('os', 'system', 1), then EXT1 1.
    auto r = scan(pb(R"(\x80\x02ccopyreg\nadd_extension\nX\x02\x00\x00\x00osX\x06\x00\x00\x00systemK\x01\x87R0\x82\x01X\x02\x00\x00\x00id\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "extension-code"), nullptr);
    EXPECT_NE(find(r, "call-of-computed-value"), nullptr);  // calling what EXT returned
}

TEST_F(Scan, PayloadFollowedByABrokenTail) {
    // The payload runs, then the stream breaks so a scanner erroring out
    // would say nothing. We report both.
    auto r = scan(pb(R"(cos\nsystem\n(S'id'\ntR\xff)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed"), nullptr);
    EXPECT_NE(find(r, "malformed-pickle"), nullptr);
}

TEST_F(Scan, SecondPickleAfterStop) {
    auto r = scan(pb(R"(K\x01.cos\nsystem\n(S'id'\ntR.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_EQ(r.pickles, 2u);
    ASSERT_NE(find(r, "data-after-stop"), nullptr);
    const finding* f = find(r, "global-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(to_string(f->member).find("pickle 2"), std::string::npos);
}

TEST_F(Scan, GarbageAfterStopIsNotAViolation) {
    auto r = scan(pb(R"(K\x01.\n\n)"));
    EXPECT_EQ(r.verdict, verdict::safe);
    EXPECT_NE(find(r, "data-after-stop"), nullptr);
}

TEST_F(Scan, SetitemOnOsEnvironMutatesAGlobal) {
    auto r = scan(pb(R"(cos\nenviron\nS'LD_PRELOAD'\nS'/tmp/x.so'\ns.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "mutation-of-global"), nullptr);
}

TEST_F(Scan, BuildOnAnAllowedClassObjectItself) {
    // BUILD on the class mylib.Point (not an instance) changes the class.
    auto r = scan(pb(R"(\x80\x02cmylib\nPoint\n}X\x01\x00\x00\x00xK\x01sb.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "mutation-of-global"), nullptr);
}

TEST_F(Scan, AllowedClassInstanceWithStateIsSafe) {
    auto r = scan(pb(R"(\x80\x02cmylib\nPoint\n)\x81}X\x01\x00\x00\x00xK\x01sb.)"));
    EXPECT_EQ(r.verdict, verdict::safe) << (r.findings.empty() ? "" : r.findings[0].message);
}

TEST_F(Scan, DunderInSlotStateSwapsTheClass) {
    auto r = scan(pb(R"(\x80\x02cmylib\nPoint\n)\x81N}X\t\x00\x00\x00__class__cos\n_wrap_close\ns\x86b.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    ASSERT_NE(find(r, "dunder-slot-state"), nullptr);
}

TEST_F(Scan, UseBeyondThePolicy) {
    // builtins.list may only be referenced (e.g. as a defaultdict factory), not called.
    auto r = scan(pb(R"(\x80\x02c__builtin__\nlist\n)R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "use-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->message.find("call"), std::string::npos);
    auto ok = scan(pb(R"(\x80\x02c__builtin__\nlist\n.)"));
    EXPECT_EQ(ok.verdict, verdict::safe);
}

TEST_F(Scan, GetattrChainCallsAComputedValue) {
    // getattr(os, 'system')('id'): the call target is computed at load time.
    auto r = scan(pb(R"(\x80\x02c__builtin__\ngetattr\ncos\npath\nX\x04\x00\x00\x00joinX\x00\x00\x00\x00\x86R)R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "call-of-computed-value"), nullptr);
    EXPECT_TRUE(has_global(r, "builtins", "getattr", false));
}

// builtins.getattr(G, 'name') with G a named global is what find_class(G's
// module, "G.name") returns: it is judged as that dotted global.
constexpr const char* kZonesPolicy = R"(
name = "zones"
description = "zoneinfo zones, which pickle ZoneInfo._unpickle through getattr"

[[allow]]
module = "zoneinfo"
name = "ZoneInfo"

[[allow]]
module = "zoneinfo"
name = "ZoneInfo._unpickle"
uses = ["call"]
)";

class ScanZones : public Scan {
protected:
    file_report scan_zones(const std::string& pickle) {
        return scan_under(parse_policy(kZonesPolicy, "zones.toml").value(), pickle);
    }
};

// What pickle.dumps(zoneinfo.ZoneInfo('Europe/Paris'), 4) holds.
constexpr const char* kZoneInfo =
    R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93\x8c\x09_unpickle\x86R)"
    R"(\x8c\x0cEurope/ParisK\x01\x86R.)";

TEST_F(ScanZones, GetattrOfANamedClassIsJudgedAsTheDottedAttribute) {
    auto r = scan_zones(pb(kZoneInfo));
    EXPECT_EQ(r.verdict, verdict::safe);
    EXPECT_TRUE(has_global(r, "zoneinfo", "ZoneInfo._unpickle", true));
    // Only called to fetch that attribute: getattr itself needs no entry.
    EXPECT_TRUE(has_global(r, "builtins", "getattr", true));
    const finding* f = find(r, "attribute-of-global");
    ASSERT_NE(f, nullptr);
    EXPECT_FALSE(f->violation);
    EXPECT_EQ(f->offset, 55u);  // the REDUCE that calls getattr
    // The same file under a policy that does not list the attribute.
    auto strict = scan(pb(kZoneInfo));
    EXPECT_EQ(strict.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(strict, "zoneinfo", "ZoneInfo._unpickle", false));
}

TEST_F(ScanZones, GetattrOfAnAllowedClassReachingADunderIsNotAllowed) {
    // getattr(ZoneInfo, '__subclasses__')(): allowing a class never allows its attributes.
    auto r = scan_zones(pb(R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93)"
                           R"(\x8c\x0e__subclasses__\x86R)R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "zoneinfo", "ZoneInfo.__subclasses__", false));
    EXPECT_EQ(find(r, "call-of-computed-value"), nullptr);
}

TEST_F(ScanZones, GetattrWithANameThatIsNotAConstantStrStaysACallOfGetattr) {
    // bytes b'_unpickle' (getattr would refuse it) and '_unpickle.x' (not
    // what find_class would walk): neither is resolved, so getattr is called
    // and its result is a computed value.
    for (const char* pickle :
         {R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93C\x09_unpickle\x86R)"
          R"(\x8c\x0cEurope/ParisK\x01\x86R.)",
          R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93\x8c\x0b_unpickle.x\x86R)R.)"}) {
        auto r = scan_zones(pb(pickle));
        EXPECT_EQ(r.verdict, verdict::unsafe) << pickle;
        EXPECT_TRUE(has_global(r, "builtins", "getattr", false)) << pickle;  // called as such
        EXPECT_NE(find(r, "call-of-computed-value"), nullptr) << pickle;  // its result is called
        EXPECT_EQ(find(r, "attribute-of-global"), nullptr) << pickle;
    }
}

TEST_F(ScanZones, GetattrThatAnAllowedCallableCouldBeHandedNeedsAnEntry) {
    // The same zone, but getattr itself is also put in a list (where an
    // allowed callable given the list could call it with other arguments),
    // or returned to the caller of pickle.load: then it is judged as named.
    for (const char* tail : {R"(h\x00\x85.)", R"(0h\x00.)"}) {
        auto r = scan_zones(pb(std::string(R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x94\x8c\x08zoneinfo)"
                                           R"(\x8c\x08ZoneInfo\x93\x8c\x09_unpickle\x86R\x8c\x0cEurope/ParisK\x01\x86R)") + tail));
        EXPECT_EQ(r.verdict, verdict::unsafe) << tail;
        EXPECT_TRUE(has_global(r, "builtins", "getattr", false)) << tail;
        EXPECT_TRUE(has_global(r, "zoneinfo", "ZoneInfo._unpickle", true)) << tail;
    }
}

TEST_F(ScanZones, GetattrChainsExtendTheDottedName) {
    // getattr(getattr(ZoneInfo, '_unpickle'), '__get__')(), getattr shared through the memo.
    auto r = scan_zones(pb(R"(\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x94h\x00\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93)"
                           R"(\x8c\x09_unpickle\x86R\x8c\x07__get__\x86R)R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "zoneinfo", "ZoneInfo._unpickle.__get__", false));
    EXPECT_EQ(find(r, "call-of-computed-value"), nullptr);
}

TEST_F(Scan, InstOpcodeCallsItsClass) {
    auto r = scan(pb(R"((S'id'\nios\nsystem\n.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "os", "system", false));
}

TEST_F(Scan, ObjOpcodeCallsItsClass) {
    auto r = scan(pb(R"((cos\nsystem\nS'id'\no.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "os", "system", false));
}

TEST_F(Scan, NewobjExOfAnUnlistedClass) {
    auto r = scan(pb(R"(\x80\x04\x8c\x04evil\x8c\x05Class\x93)}\x92.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(has_global(r, "evil", "Class", false));
}

TEST_F(Scan, PersistentIdUnderAPolicyWithoutOne) {
    auto r = scan(pb(R"(Pstorage0\n.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "persistent-id-not-allowed"), nullptr);
}

TEST_F(Scan, NestedPickleHandedToPickleLoads) {
    // pickle.loads(b"cos\nsystem\n(S'id'\ntR.")
    auto r = scan(pb(R"(\x80\x03cpickle\nloads\nC\x15cos\nsystem\n(S'id'\ntR.\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    bool inner = std::any_of(r.findings.begin(), r.findings.end(), [](const finding& f) {
        return f.module == "os" && to_string(f.member).find("pickle.loads") != std::string::npos;
    });
    EXPECT_TRUE(inner);
}

TEST_F(Scan, LimitHitIsNeverSafe) {
    auto r = scan(std::string(200'000, '(') + ".");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "limit-exceeded"), nullptr);
}

TEST_F(Scan, TruncatedBenignPickleIsNeverSafe) {
    auto r = scan(pb(R"(\x80\x04]\x94(K\x01K\x02)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "malformed-pickle"), nullptr);
}

// bytes(n) and bytearray(n) make the loader allocate n bytes: the shipped
// python policy bounds their integer arguments (max_int_arg).
class ScanArguments : public Scan {
protected:
    file_report scan(const std::string& pickle) { return scan_under(load_shipped_policy("python").value(), pickle); }
};

TEST_F(ScanArguments, BytesOfATerabyteIsOverTheArgumentBound) {
    // bytes(10**12), LONG1 under protocol 2.
    auto r = scan(pb(R"(\x80\x02c__builtin__\nbytes\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "argument-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->name, "bytes");
    EXPECT_NE(f->message.find("1000000000000"), std::string::npos);
    // bytearray(2**80): an integer too big for 64 bits.
    auto big = scan(pb(R"(\x80\x02c__builtin__\nbytearray\n\x8a\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x85R.)"));
    EXPECT_EQ(big.verdict, verdict::unsafe);
    EXPECT_NE(find(big, "argument-not-allowed"), nullptr);
    // bytes(1024) and bytes() stay safe.
    EXPECT_EQ(scan(pb(R"(\x80\x02c__builtin__\nbytes\nM\x00\x04\x85R.)")).verdict, verdict::safe);
    EXPECT_EQ(scan(pb(R"(\x80\x02c__builtin__\nbytes\n)R.)")).verdict, verdict::safe);
}

TEST_F(ScanArguments, BytesOfALazyRangeCannotBeBounded) {
    // bytes(range(10**12)): range is allowed and lazy, but bytes() then
    // iterates it; a lazy value longer than the bounds is refused (issue 13:
    // call-cost-exceeded, see judge_cost_test.cpp).
    auto r = scan(pb(R"(\x80\x02c__builtin__\nbytes\nc__builtin__\nrange\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "call-cost-exceeded");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->message.find("builtins.range"), std::string::npos);
}

TEST_F(ScanArguments, FractionWithABillionDigitExponent) {
    // Fraction('1e999999999'): the loader would compute 10**999999999.
    auto r = scan(pb(R"(\x80\x02cfractions\nFraction\nX\x0b\x00\x00\x001e999999999\x85R.)"));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "argument-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->message.find("str_arg_pattern"), std::string::npos);
    // What pickles hold: Fraction(-22, 7) (Python 3.11), Fraction('-22/7') (older).
    EXPECT_EQ(scan(pb(R"(\x80\x02cfractions\nFraction\nJ\xea\xff\xff\xffK\x07\x86R.)")).verdict, verdict::safe);
    EXPECT_EQ(scan(pb(R"(\x80\x02cfractions\nFraction\nX\x05\x00\x00\x00-22/7\x85R.)")).verdict, verdict::safe);
}

}  // namespace
}  // namespace pickleguard
