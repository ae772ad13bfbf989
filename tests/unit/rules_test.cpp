// The rule catalogue (PICKLEGUARD_RULES in pickleguard/rules.hpp): every
// constant names one row, every rule a scan emits is a row, and
// docs/rules.md is written from the rows. scripts/rule_ids.py (CTest
// rule_ids) keeps identifiers out of the code as literals.
#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pickleguard {
namespace {

// Every constant, from the same X-macro as the catalogue.
constexpr std::string_view kConstants[] = {
#define PICKLEGUARD_RULE_CONSTANT_VIEW(constant, id, title, help) rule::constant,
    PICKLEGUARD_RULES(PICKLEGUARD_RULE_CONSTANT_VIEW)
#undef PICKLEGUARD_RULE_CONSTANT_VIEW
};

bool kebab_case(std::string_view id) {
    if (id.empty() || id.front() == '-' || id.back() == '-' || id.find("--") != std::string_view::npos) return false;
    return std::all_of(id.begin(), id.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

TEST(RulesCatalogue, EveryConstantIsOneRow) {
    ASSERT_EQ(std::size(kConstants), all_rules().size());
    for (std::string_view c : kConstants) {
        EXPECT_EQ(std::count_if(all_rules().begin(), all_rules().end(), [&](const rule_info& r) { return r.id == c; }),
                  1)
            << c;
        const rule_info* r = find_rule(c);
        ASSERT_NE(r, nullptr) << c;
        EXPECT_EQ(r->id, c);
    }
}

TEST(RulesCatalogue, IdsAreUniqueKebabCaseAndDocumented) {
    std::set<std::string_view> seen;
    for (const rule_info& r : all_rules()) {
        EXPECT_TRUE(seen.insert(r.id).second) << r.id << " is in the catalogue twice";
        EXPECT_TRUE(kebab_case(r.id)) << r.id;
        EXPECT_FALSE(r.title.empty()) << r.id;
        EXPECT_FALSE(r.help.empty()) << r.id;
    }
    EXPECT_EQ(find_rule("no-such-rule"), nullptr);
}

// Every rule that scanning the suite's inputs emits, under every shipped
// policy, is a catalogue row (SARIF gives it rule metadata, docs/rules.md an
// anchor). Rules only the sandbox or the command line emit (scanner-crashed,
// unreadable-directory...) are constants, which the compiler checks.
TEST(RulesCatalogue, EveryRuleTheTestInputsEmitIsInTheCatalogue) {
    namespace fs = std::filesystem;
    const std::string src = PICKLEGUARD_SOURCE_DIR;
    std::vector<fs::path> files;
    for (const std::string& dir : {src + "/tests/fixtures", src + "/examples", src + "/fuzz/corpus",
                                  src + "/tests/regressions", std::string(PICKLEGUARD_CONTAINERS_DIR),
                                  std::string(PICKLEGUARD_READINGS_DIR)}) {
        if (!fs::is_directory(dir)) continue;
        for (const auto& e : fs::recursive_directory_iterator(dir))
            if (e.is_regular_file()) files.push_back(e.path());
    }
    ASSERT_GT(files.size(), 100u);
    std::map<std::string, std::string> unknown;  // rule -> first file that emitted it
    std::set<std::string> emitted;
    for (const std::string& name : shipped_policy_names()) {
        auto p = load_shipped_policy(name);
        ASSERT_TRUE(p) << name;
        for (const fs::path& path : files) {
            auto file = map_file(path.string());
            if (!file) continue;
            const file_report r = scan_file(file.value().bytes(), p.value(), {}, path.string());
            for (const finding& f : r.findings) {
                emitted.insert(f.rule);
                if (!find_rule(f.rule)) unknown.emplace(f.rule, path.string() + " under " + name);
            }
        }
    }
    for (const auto& [rule, where] : unknown)
        ADD_FAILURE() << "rule " << rule << " (" << where << ") is not in the catalogue";
    // The inputs reach most of the catalogue; a drop says the test lost its inputs.
    EXPECT_GE(emitted.size(), 30u);
}

std::string rules_doc() {
    std::string s =
        "# Finding rules\n\n<!-- written by tests/unit/rules_test.cpp from PICKLEGUARD_RULES in "
        "lib/include/pickleguard/rules.hpp; PICKLEGUARD_UPDATE_DOCS=1 build/tests/unit_tests "
        "--gtest_filter='RulesDoc.*' rewrites it -->\n\nEach finding names one of these rules. Identifiers are "
        "stable.\n";
    for (const rule_info& r : all_rules())
        s += "\n## " + std::string(r.id) + "\n\n**" + std::string(r.title) + ".** " + std::string(r.help) + "\n";
    return s;
}

// docs/rules.md is the catalogue, as the limits docs are the limits table
// (LimitsDoc): PICKLEGUARD_UPDATE_DOCS=1 rewrites it.
TEST(RulesDoc, DocsRulesIsTheCatalogue) {
    const std::string path = std::string(PICKLEGUARD_SOURCE_DIR) + "/docs/rules.md";
    const std::string doc = rules_doc();
    if (std::getenv("PICKLEGUARD_UPDATE_DOCS") != nullptr) {
        std::ofstream(path, std::ios::binary) << doc;
        return;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << "docs/rules.md is missing";
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file, doc) << "docs/rules.md is out of date: run PICKLEGUARD_UPDATE_DOCS=1 build/tests/unit_tests "
                            "--gtest_filter='RulesDoc.*'";
}

}  // namespace
}  // namespace pickleguard
