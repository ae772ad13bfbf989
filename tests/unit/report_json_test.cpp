// The JSON report's bytes (lib/src/report/report_json.cpp), which programs
// parse and docs/report-format.md promises: fields are only ever added.
// report_json_golden.json was written by the JSON writer as it was before the
// writer walked report_schema.hpp's tables; this test keeps every byte of it
// (key order, nulls for empty optional fields, [format] for a report without
// readings, U+FFFD for bytes that are not UTF-8) whatever the writer becomes.
#include "pickleguard/report.hpp"
#include "pickleguard/version.hpp"

#include "report_samples.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace pickleguard {
namespace {

// Hand-set, not filled from the schema (report_samples.hpp too): the golden
// must not depend on the tables it checks.
std::vector<file_report> golden_cases() {
    std::vector<file_report> out;
    file_report r;
    r.path = "dir/model.pt";
    r.format = "pytorch-zip";
    r.readings = {"pytorch-zip", "pickle"};
    r.verdict = verdict::unsafe;
    r.bytes = 0x0123456789abcdefULL;
    r.pickles = 7;
    finding f = testing::full_finding();
    f.violation = true;
    r.findings.push_back(f);
    finding bare;  // every optional part empty: nulls in JSON
    bare.rule = "data-after-stop";
    bare.severity = severity::info;
    bare.message = "m";
    bare.violation = false;
    r.findings.push_back(bare);
    r.globals.push_back(testing::full_global());
    global_report empty_global;  // empty strings stay strings, member null
    r.globals.push_back(empty_global);
    out.push_back(r);
    file_report older;  // no readings: JSON has [format]
    older.path = "a.pkl";
    older.format = "pickle";
    out.push_back(older);
    file_report none;  // no readings and no format
    none.path = "b";
    none.verdict = verdict::error;
    out.push_back(none);
    file_report bad;  // bytes that are not UTF-8
    bad.path = "\xff";
    bad.format = "\xc3";
    bad.readings = {"\xed\xa0\x80"};
    finding fb;
    fb.rule = fb.message = fb.opcode = fb.module = fb.name = "\xc0\xaf";
    fb.member = location{}.member("\xc0\xaf");
    bad.findings.push_back(fb);
    out.push_back(bad);
    return out;
}

std::string golden() {
    std::ifstream in(PICKLEGUARD_SOURCE_DIR "/tests/unit/report_json_golden.json", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    // The one line that is not the writer's: this build's version.
    if (auto at = text.find("@VERSION@"); at != std::string::npos) text.replace(at, 9, version());
    return text;
}

TEST(ReportJson, EveryFieldKeepsItsBytes) {
    std::string expected = golden();
    ASSERT_FALSE(expected.empty()) << "tests/unit/report_json_golden.json is missing";
    EXPECT_EQ(report_json(golden_cases(), {{"s", "not a pickle container"}}, "default"), expected);
}

// A location's text is the report's `member`, exactly as reports spelled it
// when it was built by concatenation (scan stage, judge, readers).
TEST(ReportJson, LocationTextIsTheMemberReportsHaveAlwaysSpelled) {
    const location none{};
    EXPECT_EQ(to_string(none), "");
    EXPECT_EQ(to_string(none.member("archive/data.pkl").member("gzip")), "archive/data.pkl > gzip");
    EXPECT_EQ(to_string(none.pickle(2, 5)), "(pickle 2 at offset 5)");
    EXPECT_EQ(to_string(none.member("a.pkl").pickle(3, 40)), "a.pkl (pickle 3 at offset 40)");
    EXPECT_EQ(to_string(none.argument("pickle.loads", 0, 12)), "argument 0 of pickle.loads at offset 12");
    EXPECT_EQ(to_string(none.member("data.pkl").argument("pickle.loads", 1, 12).pickle(2, 30)),
              "data.pkl > argument 1 of pickle.loads at offset 12 (pickle 2 at offset 30)");
    EXPECT_EQ(to_string(none.member("storages").part("entry 3")), "storages (entry 3)");
    EXPECT_EQ(to_string(none.part("count")), " (count)");  // as name + " (count)" was, for an unnamed member
    // A member named "" adds no text (it read as its container before), but it
    // is a step: the file itself has none.
    const location unnamed = none.member("");
    EXPECT_EQ(to_string(unnamed), "");
    EXPECT_EQ(to_string(unnamed.member("x")), "x");
    EXPECT_EQ(to_string(none.member("x").member("")), "x");
    EXPECT_FALSE(unnamed == none);
}

TEST(ReportJson, LocationWithoutTextIsNull) {
    file_report r;
    r.path = "p";
    finding f;
    f.rule = "r";
    f.member = location{}.member("");
    r.findings.push_back(f);
    f.member = location{}.member("m").pickle(2, 7);
    r.findings.push_back(f);
    const std::string json = report_json({r}, {}, "default");
    const std::size_t first = json.find("\"member\"");
    ASSERT_NE(first, std::string::npos);
    EXPECT_EQ(json.substr(first, 14), "\"member\": null") << json;
    EXPECT_NE(json.find("\"member\": \"m (pickle 2 at offset 7)\""), std::string::npos) << json;
}

}  // namespace
}  // namespace pickleguard
