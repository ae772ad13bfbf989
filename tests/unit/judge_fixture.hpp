// Test helper: what the one-technique judge tests share (partial_test,
// judge_cost_test, computed_state_test). A pickle built byte by byte is
// scanned under a shipped policy or one written in the test, and findings
// are looked up by rule and by a piece of their message; `rules` lists them
// all for the failure message.
//
//     class Cost : public testing::JudgeTest {};
//     TEST_F(Cost, Technique) {
//         auto r = scan("default", pb(R"(\x80\x02...)"));
//         ASSERT_NE(find(r, "dunder-build-state", "__setstate__"), nullptr) << rules(r);
//     }
#pragma once

#include "pickleguard/container.hpp"
#include "pickleguard/scan.hpp"

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <string_view>

namespace pickleguard::testing {

class JudgeTest : public ::testing::Test {
protected:
    // How the bytes are read: as one pickle (scan_bytes), or as a file whose
    // format is recognised first (scan_file), as `pickleguard scan` reads it.
    enum class read_as { pickle, file };
    explicit JudgeTest(read_as how = read_as::pickle) : how_(how) {}

    // Under a shipped policy.
    file_report scan(std::string_view policy_name, const std::string& pickle) {
        auto p = load_shipped_policy(policy_name);
        EXPECT_TRUE(p) << policy_name;
        return scan_under(p.value(), pickle);
    }
    // Under a policy written as TOML in the test.
    file_report scan_text(std::string_view policy_text, const std::string& pickle) {
        auto p = parse_policy(policy_text, "test.toml");
        EXPECT_TRUE(p) << (p ? "" : p.error().reason);
        return scan_under(p.value(), pickle);
    }
    file_report scan_under(const policy& p, const std::string& pickle) {
        pickle_ = pickle;  // the report holds no views, but keep the input alive anyway
        auto bytes = std::as_bytes(std::span(pickle_.data(), pickle_.size()));
        return how_ == read_as::file ? scan_file(bytes, p, {}, "test.pkl") : scan_bytes(bytes, p, {}, "test.pkl");
    }

    // The first finding of `rule` whose message contains `text`.
    static const finding* find(const file_report& r, std::string_view rule, std::string_view text = {}) {
        for (const finding& f : r.findings)
            if (f.rule == rule && f.message.find(text) != std::string::npos) return &f;
        return nullptr;
    }
    static bool has(const file_report& r, std::string_view rule, std::string_view text = {}) {
        return find(r, rule, text) != nullptr;
    }
    // Every finding, "rule: message" a line.
    static std::string rules(const file_report& r) {
        std::string s;
        for (const finding& f : r.findings) s += f.rule + ": " + f.message + "\n";
        return s;
    }

private:
    read_as how_;
    std::string pickle_;
};

}  // namespace pickleguard::testing
