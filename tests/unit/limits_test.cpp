// The limits table (pickleguard/limits.hpp) is the one description of the
// limits: these tests check that it covers `struct limits`, that a policy's
// [limits] reads every row and nothing else, that `tighter` is the minimum
// of every row, and that the limits tables in the docs are the table's.
#include "pickleguard/limits.hpp"
#include "pickleguard/scan.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>

namespace pickleguard {
namespace {

// How many members an aggregate has: the most initialisers it accepts.
struct any_value {
    template <class T>
    constexpr operator T() const { return T{}; }
};
template <class T, class... A>
constexpr std::size_t member_count(A... a) {
    if constexpr (requires { T{a..., any_value{}}; }) return member_count<T>(a..., any_value{});
    else return sizeof...(A);
}

std::size_t offset_of(const limit_info& li) {
    static const limits l{};
    const void* m = li.wide ? static_cast<const void*>(&(l.*li.wide)) : static_cast<const void*>(&(l.*li.narrow));
    return static_cast<std::size_t>(static_cast<const char*>(m) - reinterpret_cast<const char*>(&l));
}

std::string read_source(const std::string& path) {
    std::ifstream in(std::string(PICKLEGUARD_SOURCE_DIR) + "/" + path);
    EXPECT_TRUE(in) << path << " is missing";
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(LimitsTable, HasOneRowPerMemberInMemberOrder) {
    static_assert(member_count<limits>() == std::size(limit_table),
                  "a member of struct limits has no row in limit_table (or a row too many)");
    // Rows in member order, each a member of its own, named as the member
    // is in the header (the compiler cannot check the names; the source can).
    std::string header = read_source("lib/include/pickleguard/limits.hpp");
    std::string body = header.substr(header.find("struct limits {"));
    body = body.substr(0, body.find("\n};"));
    std::regex member(R"(std::uint(?:32|64)_t (\w+) =)");
    std::vector<std::string> names;
    for (auto it = std::sregex_iterator(body.begin(), body.end(), member); it != std::sregex_iterator(); ++it)
        names.push_back((*it)[1]);
    ASSERT_EQ(names.size(), all_limits().size());
    std::set<std::string_view> options;
    for (std::size_t i = 0; i < all_limits().size(); ++i) {
        const limit_info& li = all_limits()[i];
        EXPECT_EQ(li.name, names[i]) << "row " << i;
        EXPECT_NE(!li.wide, !li.narrow) << li.name << ": exactly one member pointer";
        if (i) {
            EXPECT_GT(offset_of(li), offset_of(all_limits()[i - 1])) << li.name;
        }
        EXPECT_EQ(find_limit(li.name), &li);
        EXPECT_FALSE(li.doc.empty()) << li.name;
        EXPECT_GT(li.default_value(), 0u) << li.name;
        if (!li.option.empty()) {
            EXPECT_TRUE(options.insert(li.option).second) << li.option;
        }
    }
    EXPECT_EQ(find_limit("max_opcode"), nullptr);
}

std::string limits_policy(const std::string& lines) { return "name = \"x\"\n\n[limits]\n" + lines; }

// A value for each row unlike its default and every other row's.
std::uint64_t probe_value(std::size_t row) { return 1000 + 7 * row; }

TEST(PolicyLimits, EveryLimitIsSettableAndRoundTrips) {
    for (std::size_t i = 0; i < all_limits().size(); ++i) {
        const limit_info& li = all_limits()[i];
        auto p = parse_policy(limits_policy(std::string(li.name) + " = " + std::to_string(probe_value(i)) + "\n"),
                              "x.toml");
        ASSERT_TRUE(p) << li.name << ": " << p.error().reason;
        for (const limit_info& other : all_limits())
            EXPECT_EQ(other.get(p.value().limits()), &other == &li ? probe_value(i) : other.default_value())
                << "setting " << li.name << ", read " << other.name;
    }
    // All at once, and at the largest TOML integer: 32-bit limits saturate.
    std::string all;
    for (const limit_info& li : all_limits()) all += std::string(li.name) + " = 9223372036854775807\n";
    auto p = parse_policy(limits_policy(all), "x.toml");
    ASSERT_TRUE(p) << p.error().reason;
    for (const limit_info& li : all_limits())
        EXPECT_EQ(li.get(p.value().limits()), std::min<std::uint64_t>(li.max_value(), 9223372036854775807u))
            << li.name;
}

TEST(PolicyLimits, UnknownKeyIsRefusedWithTheValidNames) {
    auto p = parse_policy(limits_policy("max_opcodes = 5\nmax_opcode = 5\n"), "x.toml");
    ASSERT_FALSE(p);
    const std::string& why = p.error().reason;
    EXPECT_NE(why.find("x.toml:5"), std::string::npos) << why;
    EXPECT_NE(why.find("unknown limit 'max_opcode'"), std::string::npos) << why;
    EXPECT_NE(why.find("(expected " + limit_names() + ")"), std::string::npos) << why;
    for (const limit_info& li : all_limits()) EXPECT_NE(why.find(li.name), std::string::npos) << li.name;
}

TEST(PolicyLimits, NonPositiveOrNonIntegerValueIsRefused) {
    for (const char* bad : {"max_opcodes = 0", "max_opcodes = -3", "max_opcodes = 1.5", "max_opcodes = \"9\"",
                            "max_json_bytes = 0"}) {
        auto p = parse_policy(limits_policy(std::string(bad) + "\n"), "x.toml");
        ASSERT_FALSE(p) << bad;
        EXPECT_NE(p.error().reason.find("must be a positive integer"), std::string::npos) << p.error().reason;
    }
}

// max_decimal_int_digits is one of the limits a policy could not set before
// the table: the scan must now honour it.
TEST(PolicyLimits, NewlySettableLimitReachesTheScan) {
    auto p = parse_policy(limits_policy("max_decimal_int_digits = 10\n"), "x.toml");
    ASSERT_TRUE(p) << p.error().reason;
    const std::string pickle = "I123456789012345678901234567890\n.";  // INT with 30 digits, then STOP
    file_report r = scan_bytes(std::as_bytes(std::span(pickle.data(), pickle.size())), p.value(), {}, "t.pkl");
    EXPECT_NE(r.verdict, verdict::safe);
    bool limit = false;
    for (const finding& f : r.findings) limit |= f.message.find("limit (10 digits)") != std::string::npos;
    EXPECT_TRUE(limit) << (r.findings.empty() ? "no findings" : r.findings.front().message);
    auto loose = parse_policy("name = \"x\"\n", "x.toml");
    ASSERT_TRUE(loose);
    file_report ok = scan_bytes(std::as_bytes(std::span(pickle.data(), pickle.size())), loose.value(), {}, "t.pkl");
    EXPECT_EQ(ok.verdict, verdict::safe);
}

TEST(Tighter, TakesTheMinimumOfEachLimit) {
    limits a, b;
    for (std::size_t i = 0; i < all_limits().size(); ++i) {
        // The smaller value alternates between the two sides.
        all_limits()[i].set(i % 2 ? a : b, probe_value(i));
    }
    const limits t = tighter(a, b), u = tighter(b, a);
    for (std::size_t i = 0; i < all_limits().size(); ++i) {
        const limit_info& li = all_limits()[i];
        EXPECT_EQ(li.get(t), probe_value(i)) << li.name;
        EXPECT_EQ(li.get(u), probe_value(i)) << li.name;
    }
    const limits d = tighter(limits{}, limits{});
    for (const limit_info& li : all_limits()) EXPECT_EQ(li.get(d), li.default_value()) << li.name;
}

TEST(LimitValueText, PowersOfTwoAndThousands) {
    EXPECT_EQ(limit_value_text(std::uint64_t{1} << 40), "2^40");
    EXPECT_EQ(limit_value_text(1024), "2^10");
    EXPECT_EQ(limit_value_text(512), "512");
    EXPECT_EQ(limit_value_text(100'000), "100,000");
    EXPECT_EQ(limit_value_text(4300), "4,300");
    EXPECT_EQ(limit_value_text(1'234'567), "1,234,567");
}

// The limits table as docs/policies.md and the README print it.
std::string limits_doc_table() {
    std::string s = "| limit | what it bounds | default | own option |\n| --- | --- | --- | --- |\n";
    for (const limit_info& li : all_limits()) {
        s += "| `" + std::string(li.name) + "` | " + std::string(li.doc) + " | " +
             limit_value_text(li.default_value()) + " | ";
        if (!li.option.empty()) s += "`" + std::string(li.option) + "` ";
        s += "|\n";
    }
    return s;
}

constexpr std::string_view kBegin =
    "<!-- limits table: written by tests/unit/limits_test.cpp from lib/include/pickleguard/limits.hpp; "
    "PICKLEGUARD_UPDATE_DOCS=1 build/tests/unit_tests --gtest_filter='LimitsDoc.*' rewrites it -->\n";
constexpr std::string_view kEnd = "<!-- end of limits table -->\n";

// The table's defaults are C++ expressions, so the test that checks the docs
// also writes them (RulesDoc does the same for docs/rules.md).
TEST(LimitsDoc, DocsShowTheLimitsTable) {
    const bool update = std::getenv("PICKLEGUARD_UPDATE_DOCS") != nullptr;
    const std::string table = limits_doc_table();
    for (const char* path : {"docs/policies.md", "README.md"}) {
        std::string doc = read_source(path);
        std::size_t begin = doc.find(kBegin);
        ASSERT_NE(begin, std::string::npos) << path << " has no limits table marker";
        begin += kBegin.size();
        std::size_t end = doc.find(kEnd, begin);
        ASSERT_NE(end, std::string::npos) << path << ": the limits table is not closed";
        if (update) {
            doc.replace(begin, end - begin, table);
            std::ofstream(std::string(PICKLEGUARD_SOURCE_DIR) + "/" + path) << doc;
            continue;
        }
        EXPECT_EQ(doc.substr(begin, end - begin), table)
            << path << " is out of date: run PICKLEGUARD_UPDATE_DOCS=1 build/tests/unit_tests "
                       "--gtest_filter='LimitsDoc.*'";
    }
}

}  // namespace
}  // namespace pickleguard
