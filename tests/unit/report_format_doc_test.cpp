// docs/report-format.md promises the JSON report to the programs that parse
// it. Its example must be what the writer writes (report_schema.hpp's tables,
// key for key and in order), and the words it lists must be the ones the
// report uses, so a field added to the schema without the doc fails here.
#include "pickleguard/policy.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/report_schema.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace pickleguard {
namespace {

using ordered = nlohmann::ordered_json;

std::string doc_text() {
    std::ifstream in(PICKLEGUARD_SOURCE_DIR "/docs/report-format.md", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The first ```json block of the page.
ordered doc_example() {
    const std::string text = doc_text();
    const std::size_t open = text.find("```json\n");
    EXPECT_NE(open, std::string::npos) << "docs/report-format.md has no ```json example";
    if (open == std::string::npos) return {};
    const std::size_t body = open + 8;
    const std::size_t close = text.find("```", body);
    return ordered::parse(text.substr(body, close - body));
}

// The doc example's file, built field by field from the structs (not from
// the schema tables).
file_report example_report() {
    file_report r;
    r.path = "model.pkl";
    r.format = "pickle";
    r.readings = {"pickle"};
    r.verdict = verdict::unsafe;
    r.bytes = 27;
    r.pickles = 1;
    finding f;
    f.rule = "global-not-allowed";
    f.severity = severity::critical;
    f.offset = 0;
    f.opcode = "GLOBAL";
    f.module = "os";
    f.name = "system";
    r.findings.push_back(f);
    global_report g;
    g.module = g.raw_module = "os";
    g.name = g.raw_name = "system";
    g.uses = uses::call;
    g.opcode = "GLOBAL";
    r.globals.push_back(g);
    return r;
}

// The doc example, as `pickleguard scan --format json` would report it.
ordered written_example() {
    return ordered::parse(report_json({example_report()}, {{"notes.txt", "not a pickle container"}}, "default"));
}

// Equal keys in equal order and equal values, but for the fields the example
// abbreviates (its message) or that change with each release (its version).
void expect_same_shape(const ordered& doc, const ordered& written, const std::string& where) {
    ASSERT_EQ(doc.type(), written.type()) << where << ": the doc has " << doc.dump() << ", the writer " << written.dump();
    if (doc.is_object()) {
        std::vector<std::string> doc_keys, written_keys;
        for (const auto& [k, v] : doc.items()) doc_keys.push_back(k);
        for (const auto& [k, v] : written.items()) written_keys.push_back(k);
        ASSERT_EQ(doc_keys, written_keys) << where << ": keys (in order) differ from what the writer writes";
        for (const auto& [k, v] : doc.items())
            if (k != "message" && k != "version") expect_same_shape(v, written[k], where + "." + k);
    } else if (doc.is_array()) {
        ASSERT_EQ(doc.size(), written.size()) << where;
        for (std::size_t i = 0; i < doc.size(); ++i) expect_same_shape(doc[i], written[i], where + "[" + std::to_string(i) + "]");
    } else {
        EXPECT_EQ(doc, written) << where;
    }
}

TEST(ReportFormatDoc, ExampleIsWhatTheWriterWrites) {
    expect_same_shape(doc_example(), written_example(), "report");
}

// The example's keys are the schema's rows, in the tables' order: the doc
// cannot list a field the schema dropped or miss one it gained.
TEST(ReportFormatDoc, ExampleListsEverySchemaField) {
    const ordered doc = doc_example();
    ASSERT_TRUE(doc.contains("files") && !doc["files"].empty());
    auto keys_of = [](const ordered& o) {
        std::vector<std::string> out;
        for (const auto& [k, v] : o.items()) out.push_back(k);
        return out;
    };
    auto rows_of = []<class T>(T*) {
        std::vector<std::string> out;
        schema::for_each_field<T>([&](auto row) { out.emplace_back(row.name); });
        return out;
    };
    const ordered& file = doc["files"][0];
    EXPECT_EQ(keys_of(file), rows_of(static_cast<file_report*>(nullptr)));
    ASSERT_FALSE(file["findings"].empty());
    EXPECT_EQ(keys_of(file["findings"][0]), rows_of(static_cast<finding*>(nullptr)));
    ASSERT_FALSE(file["globals"].empty());
    EXPECT_EQ(keys_of(file["globals"][0]), rows_of(static_cast<global_report*>(nullptr)));
}

// The ```jsonl block: one object per line, each what report_jsonl_* write
// for the example's file, skipped file and summary, key for key.
TEST(ReportFormatDoc, JsonlExampleIsWhatTheWriterWrites) {
    const std::string text = doc_text();
    const std::size_t open = text.find("```jsonl\n");
    ASSERT_NE(open, std::string::npos) << "docs/report-format.md has no ```jsonl example";
    const std::size_t body = open + 9;
    std::istringstream block(text.substr(body, text.find("```", body) - body));
    std::vector<ordered> doc_lines;
    for (std::string line; std::getline(block, line);) doc_lines.push_back(ordered::parse(line));

    const ordered json_report = written_example();
    const file_report r = example_report();
    const skipped_file notes{"notes.txt", "not a pickle container"};
    const std::vector<std::string> written = {report_jsonl_file(r), report_jsonl_skipped(notes),
                                              report_jsonl_summary(summarize({r}, {notes}), "default")};
    ASSERT_EQ(doc_lines.size(), written.size());
    for (std::size_t i = 0; i < written.size(); ++i) {
        ASSERT_EQ(written[i].back(), '\n');
        ASSERT_EQ(written[i].find('\n'), written[i].size() - 1) << "one line per object";
        expect_same_shape(doc_lines[i], ordered::parse(written[i]), "jsonl line " + std::to_string(i + 1));
    }
    // A file's line is the JSON report's entry with "type" first.
    ordered file_line = ordered::parse(written[0]);
    EXPECT_EQ(file_line.begin().key(), "type");
    file_line.erase("type");
    EXPECT_EQ(file_line, json_report["files"][0]);
}

// The words the page lists for `uses` and `verdict` are the report's own.
TEST(ReportFormatDoc, ListsEveryUseWordAndVerdict) {
    const std::string text = doc_text();
    for (const use_word& u : use_words)
        EXPECT_NE(text.find("`" + std::string(u.word) + "`"), std::string::npos) << "uses word " << u.word;
    for (unsigned v = 0; v <= static_cast<unsigned>(schema::last_value(verdict{})); ++v) {
        const std::string word = to_string(static_cast<verdict>(v));
        EXPECT_NE(text.find("`" + word + "`"), std::string::npos) << "verdict " << word;
    }
}

}  // namespace
}  // namespace pickleguard
