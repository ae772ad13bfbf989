// The knowledge base of dangerous globals (lib/src/judge/knowledge_base.cpp):
// the shipped file parses and knows the classics.
#include "pickleguard/policy.hpp"

#include <gtest/gtest.h>

#include <utility>

namespace pickleguard {
namespace {

TEST(KnowledgeBase, ShippedFileParsesAndKnowsTheClassics) {
    const knowledge_base& kb = shipped_knowledge_base();
    EXPECT_GT(kb.size(), 100u);
    for (auto [m, n] : {std::pair{"os", "system"}, {"builtins", "eval"}, {"builtins", "exec"}, {"subprocess", "Popen"},
                        {"pickle", "loads"}, {"runpy", "run_path"}}) {
        const known_global* k = kb.find(m, n);
        ASSERT_NE(k, nullptr) << m << "." << n;
        EXPECT_GE(k->severity, severity::high) << m << "." << n;
    }
}

}  // namespace
}  // namespace pickleguard
