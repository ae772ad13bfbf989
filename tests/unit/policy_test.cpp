// Policy files: parsing, validation, merging and lookup (lib/src/judge/policy.cpp).
// A typo in an allow-list must be an error naming the file and line, never a
// quiet change in what it allows.
#include "pickleguard/policy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pickleguard {
namespace {

TEST(PolicyFile, UnknownKeysAreErrorsWithALine) {
    auto p = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nuse = [\"call\"]\n", "x.toml");
    ASSERT_FALSE(p);
    // The line of the bad key (5), not of its table's header (2).
    EXPECT_NE(p.error().reason.find("x.toml:5:"), std::string::npos) << p.error().reason;
    EXPECT_NE(p.error().reason.find("'use'"), std::string::npos);
}

TEST(PolicyFile, StrArgPatternsAreCheckedAndMerged) {
    auto bad = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nstr_arg_pattern = \"(\"\n", "x.toml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().reason.find("str_arg_pattern"), std::string::npos);
    // The same global twice: either pattern will do.
    auto p = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nstr_arg_pattern = \"[0-9]+\"\n"
                          "[[allow]]\nmodule = \"a\"\nname = \"b\"\nstr_arg_pattern = \"[a-z]+\"\n",
                          "x.toml");
    ASSERT_TRUE(p) << p.error().reason;
    const allow_entry* e = p.value().find("a", "b");
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(p.value().accepts_str_arg(*e, "123"));
    EXPECT_TRUE(p.value().accepts_str_arg(*e, "abc"));
    EXPECT_FALSE(p.value().accepts_str_arg(*e, "12a"));
}

// Bounds by position: each malformed spelling is an error at its own line.
TEST(PolicyFile, PositionalBoundsAreCheckedWithALine) {
    const std::string head = "name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\n";  // the bad key is on line 5
    struct bad_case {
        const char* text;
        const char* says;
    };
    for (const bad_case& c : {
             bad_case{"args = [{ pos = 1, str_pattern = \"x\" }]\n", "unknown key 'str_pattern' in `args`"},
             bad_case{"args = [{ pattern = \"x\" }]\n", "needs `pos`"},
             bad_case{"args = [{ pos = -1, max_int = 0 }]\n", "`args` pos must be"},
             bad_case{"args = [{ pos = 1 }]\n", "needs `pattern`, `max_int`, `array_items`, `empty`, or `module` and `name`"},
             bad_case{"args = [{ pos = 1, array_items = 0 }]\n", "array_items must be a positive integer"},
             bad_case{"args = [{ pos = 1, empty = false }]\n", "empty must be true"},
             bad_case{"args = [{ pos = 1, empty = 1 }]\n", "empty must be true"},
             bad_case{"args = [{ pos = 1, pattern = \"(\" }]\n", "`args` pattern"},
             bad_case{"args = [{ pos = 1, pattern = \"\" }]\n", "non-empty"},
             bad_case{"args = [{ pos = 1, max_int = -2 }]\n", "max_int must be a non-negative integer"},
             bad_case{"args = [{ pos = 1, max_int = 0 }, { pos = 1, max_int = 1 }]\n", "two `args` items for pos 1"},
             bad_case{"args = { pos = 1, max_int = 0 }\n", "`args` must be an array of tables"},
             bad_case{"args = [1]\n", "each `args` item must be a table"},
             bad_case{"min_args = \"2\"\n", "`min_args` must be"},
             bad_case{"max_args = 256\n", "`max_args` must be"},
             bad_case{"max_arg = 2\n", "unknown key 'max_arg'"},
         }) {
        auto p = parse_policy(head + c.text, "x.toml");
        ASSERT_FALSE(p) << c.text;
        EXPECT_NE(p.error().reason.find("x.toml:5:"), std::string::npos) << c.text << p.error().reason;
        EXPECT_NE(p.error().reason.find(c.says), std::string::npos) << c.text << p.error().reason;
    }
    auto past = parse_policy(head + "max_args = 2\nargs = [{ pos = 2, max_int = 0 }]\n", "x.toml");
    ASSERT_FALSE(past);
    EXPECT_NE(past.error().reason.find("x.toml:6: `args` pos 2 is past `max_args`"), std::string::npos) << past.error().reason;
    auto order = parse_policy(head + "min_args = 3\nmax_args = 2\n", "x.toml");
    ASSERT_FALSE(order);
    EXPECT_NE(order.error().reason.find("x.toml:6:"), std::string::npos) << order.error().reason;
}

// `state` names one of the judge's checkers; a typo would silently drop the
// check, so an unknown name is an error, and a merge never drops one.
TEST(PolicyFile, StateNamesAKnownCheckerAndSurvivesMerges) {
    const std::string head = "name = \"x\"\n[[allow]]\nmodule = \"numpy\"\nname = \"dtype\"\nuses = [\"call\", \"build\"]\n";
    auto bad = parse_policy(head + "state = \"numpy-dtypes\"\n", "x.toml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().reason.find("x.toml:6: `state` must name a state checker (numpy-dtype"), std::string::npos)
        << bad.error().reason;
    auto merged = parse_policy(head + "[[allow]]\nmodule = \"numpy\"\nname = \"dtype\"\nuses = [\"call\"]\n" + "[[allow]]\nmodule = \"numpy\"\nname = \"dtype\"\nstate = \"numpy-dtype\"\n", "x.toml");
    ASSERT_TRUE(merged) << merged.error().reason;
    ASSERT_NE(merged.value().find("numpy", "dtype"), nullptr);
    EXPECT_EQ(merged.value().find("numpy", "dtype")->state, "numpy-dtype");
}

TEST(PolicyFile, PositionalBoundsParseAndMergeToTheLooser) {
    const std::string a = "[[allow]]\nmodule = \"a\"\nname = \"b\"\n";
    auto one = parse_policy("name = \"x\"\n" + a + "min_args = 2\nmax_args = 3\nargs = [{ pos = 1, pattern = \"latin1\" }, "
                            "{ pos = 2, max_int = 0 }]\n", "x.toml");
    ASSERT_TRUE(one) << one.error().reason;
    const allow_entry* e = one.value().find("a", "b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->min_args, 2u);
    EXPECT_EQ(e->max_args, 3u);
    ASSERT_EQ(e->args.size(), 2u);
    EXPECT_EQ(e->args[1].pos, 2u);
    EXPECT_EQ(e->args[1].max_int, 0u);
    EXPECT_TRUE(one.value().accepts_arg_text(*e, 0, "latin1"));
    EXPECT_FALSE(one.value().accepts_arg_text(*e, 0, "latin1x"));  // the whole text
    // Listed twice: what either allows. A position only one bounds is unbounded.
    auto two = parse_policy("name = \"x\"\n" + a + "min_args = 2\nargs = [{ pos = 1, pattern = \"latin1\" }, { pos = 2, max_int = 0 }]\n" +
                            a + "min_args = 1\nargs = [{ pos = 1, pattern = \"utf-8\" }]\n", "x.toml");
    ASSERT_TRUE(two) << two.error().reason;
    e = two.value().find("a", "b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->min_args, 1u);
    EXPECT_FALSE(e->max_args);
    ASSERT_EQ(e->args.size(), 1u);
    EXPECT_TRUE(two.value().accepts_arg_text(*e, 0, "latin1"));
    EXPECT_TRUE(two.value().accepts_arg_text(*e, 0, "utf-8"));
    EXPECT_FALSE(two.value().accepts_arg_text(*e, 0, "punycode"));
    auto unbounded = parse_policy("name = \"x\"\n" + a + "min_args = 2\n" + a, "x.toml");
    ASSERT_TRUE(unbounded) << unbounded.error().reason;
    EXPECT_FALSE(unbounded.value().find("a", "b")->has_position_bounds());
}

TEST(PolicyFile, StateKeysParseAndMergeToTheKeysBothList) {
    // policy generate writes them for nn.Module classes (the hook tables);
    // the judge's check of BUILD state is branch slotstate's.
    const std::string a = "[[allow]]\nmodule = \"a\"\nname = \"b\"\nuses = [\"new\", \"build\"]\n";
    auto one = parse_policy("name = \"x\"\n" + a + "empty_state_keys = [\"_forward_hooks\", \"forward\"]\n"
                            "required_state_keys = [\"_forward_hooks\"]\n", "x.toml");
    ASSERT_TRUE(one) << one.error().reason;
    const allow_entry* e = one.value().find("a", "b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->empty_state_keys, (std::vector<std::string>{"_forward_hooks", "forward"}));
    EXPECT_EQ(e->required_state_keys, (std::vector<std::string>{"_forward_hooks"}));
    // Listed twice: what either allows, so only the keys both constrain.
    auto two = parse_policy("name = \"x\"\n" + a + "empty_state_keys = [\"_forward_hooks\", \"forward\"]\n" + a +
                            "empty_state_keys = [\"forward\"]\n", "x.toml");
    ASSERT_TRUE(two) << two.error().reason;
    e = two.value().find("a", "b");
    EXPECT_EQ(e->empty_state_keys, (std::vector<std::string>{"forward"}));
    EXPECT_TRUE(e->required_state_keys.empty());
    for (const char* bad : {"empty_state_keys = \"forward\"", "empty_state_keys = [1]", "required_state_keys = [\"\"]"}) {
        auto p = parse_policy("name = \"x\"\n" + a + bad + "\n", "x.toml");
        EXPECT_FALSE(p) << bad;
    }
}

TEST(PolicyFile, CalledStateKeysParseMergeAndNeedBuild) {
    // policy generate writes them where forward calls stored submodules.
    const std::string a = "[[allow]]\nmodule = \"a\"\nname = \"b\"\nuses = [\"new\", \"build\"]\n";
    auto one = parse_policy("name = \"x\"\n" + a + "called_state_keys = [\"conv1\", \"relu\"]\n"
                            "attribute_tables = [\"_modules\"]\ncalled_state_values = [\"_modules\"]\n"
                            "callable_instances = true\n", "x.toml");
    ASSERT_TRUE(one) << one.error().reason;
    const allow_entry* e = one.value().find("a", "b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->called_state_keys, (std::vector<std::string>{"conv1", "relu"}));
    EXPECT_EQ(e->attribute_tables, (std::vector<std::string>{"_modules"}));
    EXPECT_EQ(e->called_state_values, (std::vector<std::string>{"_modules"}));
    EXPECT_TRUE(e->callable_instances);
    // Listed twice: the called keys both list, the tables either lists.
    auto two = parse_policy("name = \"x\"\n" + a + "called_state_keys = [\"conv1\", \"relu\"]\n"
                            "attribute_tables = [\"_modules\"]\n" + a +
                            "called_state_keys = [\"relu\"]\nattribute_tables = [\"_buffers\"]\n", "x.toml");
    ASSERT_TRUE(two) << two.error().reason;
    e = two.value().find("a", "b");
    EXPECT_EQ(e->called_state_keys, (std::vector<std::string>{"relu"}));
    EXPECT_EQ(e->attribute_tables, (std::vector<std::string>{"_modules", "_buffers"}));
    EXPECT_FALSE(e->callable_instances);
    for (const char* bad : {"called_state_keys = \"conv1\"", "called_state_values = [1]",
                            "attribute_tables = [\"_modules\"]", "callable_instances = 1"}) {
        auto p = parse_policy("name = \"x\"\n" + a + bad + "\n", "x.toml");
        EXPECT_FALSE(p) << bad;
    }
    // Without build they constrain nothing: an error naming the entry's line.
    auto nobuild = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nuses = [\"new\"]\n"
                                "called_state_keys = [\"conv1\"]\n", "x.toml");
    ASSERT_FALSE(nobuild);
    EXPECT_NE(nobuild.error().reason.find("x.toml:2"), std::string::npos) << nobuild.error().reason;
}

TEST(PolicyFile, MaxIntArgMustBeANonNegativeInteger) {
    for (const char* v : {"-1", "\"10\"", "1.5"}) {
        auto p = parse_policy(std::string("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nmax_int_arg = ") + v + "\n",
                              "x.toml");
        ASSERT_FALSE(p) << v;
        EXPECT_NE(p.error().reason.find("max_int_arg"), std::string::npos) << v;
    }
}

TEST(PolicyFile, UnknownUsesAreErrors) {
    auto p = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nuses = [\"cal\"]\n", "x.toml");
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().reason.find("unknown use 'cal'"), std::string::npos);
}

// Each word of the one use table parses to its bit and is reported back
// with the same word: the policy and the report cannot spell a use two ways.
TEST(PolicyFile, EveryUseWordParsesToItsBitAndDescribesBack) {
    for (const use_word& u : use_words) {
        std::string text = "name = \"x\"\n[[allow]]\nmodule = \"a\"\nname = \"b\"\nuses = [\"" +
                           std::string(u.word) + "\"]\n";
        auto p = parse_policy(text, "x.toml");
        ASSERT_TRUE(p) << p.error().reason;
        const allow_entry* e = p.value().find("a", "b");
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->uses, u.bit) << u.word;
        EXPECT_EQ(describe_uses(u.bit), u.word);
    }
    EXPECT_EQ(describe_uses(uses::call | uses::build | uses::reference), "call, build, reference");
    EXPECT_EQ(use_bit("instantiate"), 0) << "the policy word is \"new\"";
}

TEST(PolicyFile, BadPatternsAreErrors) {
    auto p = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"a\"\nname_pattern = \"(\"\n", "x.toml");
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().reason.find("name_pattern"), std::string::npos);
}

TEST(PolicyFile, ExactEntriesDoNotAllowTheirAttributes) {
    auto p = parse_policy("name = \"x\"\n[[allow]]\nmodule = \"collections\"\nname = \"OrderedDict\"\n", "x.toml").value();
    EXPECT_NE(p.find("collections", "OrderedDict"), nullptr);
    EXPECT_EQ(p.find("collections", "OrderedDict.fromkeys"), nullptr);
}

TEST(PolicyFile, IncludeCyclesAreErrors) {
    auto p = parse_policy("name = \"x\"\ninclude = [\"x\"]\n", "x.toml", "/nonexistent");
    ASSERT_FALSE(p);
}

TEST(PolicyFile, NonAsciiOutsideStringsIsRefusedBeforeParsing) {
    // toml++ 3.3 misreads some of these (undefined behaviour); TOML never needs them.
    auto bad = parse_policy("name = \"x\"\n\nfoo \xef\xbb\xbe= \"y\"\n", "x.toml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().reason.find("x.toml:3"), std::string::npos) << bad.error().reason;
    // Outside the ranges toml++ mishandles, non-ASCII is fine in strings and comments.
    auto ok = parse_policy("name = \"x\" # \xe2\x80\x94 \xe6\x97\xa5\ndescription = \"\xe6\x97\xa5 '''\"\n", "x.toml");
    EXPECT_TRUE(ok) << (ok ? "" : ok.error().reason);
    // Inside those ranges (U+00E9 here) it is refused everywhere, even in a string.
    auto accented = parse_policy("name = \"x\"\ndescription = \"caf\xc3\xa9\"\n", "x.toml");
    ASSERT_FALSE(accented);
    EXPECT_NE(accented.error().reason.find("x.toml:2"), std::string::npos) << accented.error().reason;
    // An unterminated string does not hide what follows it (policy fuzzer).
    auto unterminated = parse_policy("name = \"x\"\nreason = 1S\".Q\nfoo \xef\xbb\xbe= 1\n", "x.toml");
    ASSERT_FALSE(unterminated);
}

}  // namespace
}  // namespace pickleguard
