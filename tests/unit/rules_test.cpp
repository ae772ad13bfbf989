// The rule catalogue (lib/src/judge/rules.cpp, public as pickleguard/rules.hpp):
// every rule a finding can name is documented.
#include "pickleguard/rules.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace pickleguard {
namespace {

TEST(RulesDoc, EveryRuleIsDocumented) {
    std::ifstream in(std::string(PICKLEGUARD_SOURCE_DIR) + "/docs/rules.md");
    ASSERT_TRUE(in) << "docs/rules.md is missing";
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const rule_info& r : all_rules())
        EXPECT_NE(doc.find("## " + std::string(r.id) + "\n"), std::string::npos)
            << r.id << " is not in docs/rules.md: run docs/gen_rules_doc.py";
}

}  // namespace
}  // namespace pickleguard
