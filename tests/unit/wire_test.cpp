// The worker wire format (lib/src/sandbox/wire.*): what a sandboxed scanner
// process sends back. The parent reads it as untrusted input, since the
// worker has just parsed a hostile file and may be under its control: every
// malformed record must come back as an error value (with the offset of the
// bad field), never as a crash, an over-read or a huge allocation.
#include "sandbox/wire.hpp"

#include "pickleguard/report.hpp"
#include "pickleguard/report_schema.hpp"

#include "report_samples.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <type_traits>

namespace pickleguard::sandbox {
namespace {

// Every field set, none to its default, so a field written but not read (or
// read into the wrong member) changes the re-serialized record.
scan_outcome full_outcome() {
    scan_outcome o;
    o.skip_reason = "not a pickle container";
    o.text = "explain output\n";
    file_report& r = o.report;
    r.path = "dir/model.pt";
    r.format = "pytorch-zip";
    r.verdict = verdict::unsafe;
    r.bytes = 0x0123456789abcdefULL;
    r.pickles = 7;
    r.readings = {"tar", "pickle"};
    finding f = testing::full_finding();
    // Every kind of step, each field set where its kind uses it.
    f.member = location{}
                   .member("archive/data.pkl")
                   .pickle(3, 0x1122334455667788ULL)
                   .argument("pickle.loads", 2, 0x99)
                   .member("gzip")
                   .part("entry 4");
    r.findings.push_back(f);
    f.offset.reset();
    f.severity = severity::info;
    f.violation = true;
    r.findings.push_back(f);
    r.globals.push_back(testing::full_global());
    return o;
}

// A small record whose layout the tests below patch by offset (the report's
// fields in the order of report_schema.hpp's tables):
//   0: skip flag (0) | 1: path u32 len 1, "a" | 6: format u32 len 6, "pickle"
//   16: readings count u32 (0) | 20: verdict u8 | 21: bytes u64 | 29: pickles u64
//   37: findings count u32 ...
scan_outcome small_outcome() {
    scan_outcome o;
    o.report.path = "a";
    o.report.format = "pickle";
    o.report.verdict = verdict::error;  // 2: tells the verdict's byte from the zeros around it
    finding f;
    f.rule = "r";
    o.report.findings.push_back(f);
    return o;
}
constexpr std::size_t kReadingsCountAt = 16;
constexpr std::size_t kVerdictAt = 20;
constexpr std::size_t kFindingsCountAt = 37;
constexpr std::size_t kFirstFindingAt = 41;  // its rule: u32 length 1, "r"; then severity at 46

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

std::string json_of(const scan_outcome& o) { return report_json({o.report}, {}, "test"); }

TEST(Wire, RoundTripOfAFullySetOutcome) {
    scan_outcome o = full_outcome();
    std::string wire = serialize(o);
    auto back = deserialize(wire);
    ASSERT_TRUE(back) << back.error().reason;
    EXPECT_EQ(serialize(back.value()), wire);
    EXPECT_EQ(json_of(back.value()), json_of(o));
    EXPECT_EQ(back.value().report.readings, o.report.readings);
    EXPECT_EQ(back.value().skip_reason, o.skip_reason);
    EXPECT_EQ(back.value().text, o.text);
    ASSERT_EQ(back.value().report.findings.size(), 2u);
    EXPECT_EQ(back.value().report.findings[0].offset, std::optional<std::uint64_t>(42));
    EXPECT_FALSE(back.value().report.findings[1].offset);
    EXPECT_EQ(back.value().report.globals[0].offset, 0xfedcba9876543210ULL);
}

// ---- every row of report_schema.hpp, filled and compared through its table ----
//
// A member added to a struct without a row fails to compile (the schema
// header counts members); these tests make sure that every row the table
// has crosses the wire and comes back into the same member.

template <class T>
void fill(T& s, int& n);

// A value unlike the member's default and unlike every other member's.
template <schema::kind K, class M>
void fill_member(M& m, std::string_view name, int& n) {
    using schema::kind;
    ++n;
    if constexpr (K == kind::text || K == kind::text_or_null) m = std::string(name) + " #" + std::to_string(n);
    else if constexpr (K == kind::number && sizeof(M) == 1) m = static_cast<M>(0x80 + n);
    else if constexpr (K == kind::number) m = 0x0102030405060700ULL + static_cast<std::uint64_t>(n);
    else if constexpr (K == kind::optional_number) m = 0xa000000000000000ULL + static_cast<std::uint64_t>(n);
    else if constexpr (K == kind::flag) m = !m;
    else if constexpr (K == kind::uses) m = static_cast<std::uint8_t>(0x40 | (n & 0x3f));
    else if constexpr (K == kind::enumeration) m = m == schema::last_value(M{}) ? M{} : schema::last_value(M{});
    else if constexpr (K == kind::location) {
        const std::string tag = " #" + std::to_string(n);
        const auto k = static_cast<std::uint64_t>(n);
        m = location{}
                .member(std::string(name) + tag)
                .pickle(2 + k, 0x0a00 + k)
                .argument("pickle.loads" + tag, k, 0x0b00 + k)
                .part("part" + tag);
    } else {
        static_assert(K == kind::list);
        m.resize(2);
        for (auto& item : m) {
            if constexpr (std::is_same_v<typename M::value_type, std::string>) item = std::string(name) + " item #" + std::to_string(++n);
            else fill(item, n);
        }
    }
}

template <class T>
void fill(T& s, int& n) {
    schema::for_each_field<T>([&](const auto& row) {
        fill_member<std::decay_t<decltype(row)>::kind_value>(s.*row.member, row.name, n);
    });
}

// Every row of `a` and `b` equal, lists item by item; `where` names the path.
template <class T>
void expect_same(const T& a, const T& b, const std::string& where) {
    schema::for_each_field<T>([&](const auto& row) {
        using Row = std::decay_t<decltype(row)>;
        const std::string at = where + "." + std::string(row.name);
        const auto& x = a.*row.member;
        const auto& y = b.*row.member;
        if constexpr (Row::kind_value == schema::kind::list) {
            ASSERT_EQ(x.size(), y.size()) << at;
            for (std::size_t i = 0; i < x.size(); ++i) {
                if constexpr (std::is_same_v<typename Row::member_type::value_type, std::string>)
                    EXPECT_EQ(x[i], y[i]) << at << "[" << i << "]";
                else
                    expect_same(x[i], y[i], at + "[" + std::to_string(i) + "]");
            }
        } else {
            EXPECT_TRUE(x == y) << at;
        }
    });
}

// Every row differs from the default, so the comparison above would see a
// row that the reader skips or reads into another member.
template <class T>
void expect_all_set(const T& s, const std::string& where) {
    const T defaults{};
    schema::for_each_field<T>([&](const auto& row) {
        using Row = std::decay_t<decltype(row)>;
        const std::string at = where + "." + std::string(row.name);
        if constexpr (Row::kind_value != schema::kind::list) {
            EXPECT_FALSE(s.*row.member == defaults.*row.member) << at << " was left at its default";
        } else {
            EXPECT_FALSE((s.*row.member).empty()) << at << " was left empty";
            if constexpr (!std::is_same_v<typename Row::member_type::value_type, std::string>)
                for (const auto& item : s.*row.member) expect_all_set(item, at + "[]");
        }
    });
}

TEST(Wire, RoundTripOfEveryRowOfTheReportSchema) {
    scan_outcome o;
    int n = 0;
    fill(o.report, n);
    o.skip_reason = "skip";
    o.text = "text";
    expect_all_set(o.report, "file_report");
    std::string wire = serialize(o);
    auto back = deserialize(wire);
    ASSERT_TRUE(back) << back.error().reason;
    expect_same(o.report, back.value().report, "file_report");
    EXPECT_EQ(back.value().skip_reason, o.skip_reason);
    EXPECT_EQ(back.value().text, o.text);
    EXPECT_EQ(serialize(back.value()), wire);
}

TEST(Wire, EveryRowOfTheReportSchemaReachesTheWire) {
    // Changing any one row's value changes the record: no row is left out of
    // what the worker sends.
    scan_outcome o;
    int n = 0;
    fill(o.report, n);
    const std::string wire = serialize(o);
    auto changed_each = [&](auto& s, const std::string& where) {
        using T = std::decay_t<decltype(s)>;
        schema::for_each_field<T>([&](const auto& row) {
            auto saved = s.*row.member;
            s.*row.member = T{}.*row.member;  // the default, which fill never leaves
            EXPECT_NE(serialize(o), wire) << where << "." << row.name;
            s.*row.member = saved;
        });
    };
    changed_each(o.report, "file_report");
    changed_each(o.report.findings[0], "finding");
    changed_each(o.report.globals[0], "global_report");
}

TEST(Wire, FuzzSeedsAreWellFormedRecords) {
    // fuzz/make_wire_seeds.py writes them from the report schema the Python
    // module exports; a seed the parser rejects would only cost the fuzzer
    // coverage, silently (they had been stale since readings were added).
    const std::filesystem::path dir = PICKLEGUARD_SOURCE_DIR "/fuzz/corpus/wire_fuzzer";
    int seeds = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("seed", 0) != 0) continue;  // what the fuzzer found may be malformed on purpose
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        auto back = deserialize(bytes.str());
        EXPECT_TRUE(back) << name << ": " << (back ? "" : back.error().reason);
        ++seeds;
    }
    EXPECT_GE(seeds, 3);
}

TEST(Wire, RoundTripOfAnEmptyOutcome) {
    scan_outcome o;
    auto back = deserialize(serialize(o));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back.value().skip_reason);
    EXPECT_EQ(serialize(back.value()), serialize(o));
}

TEST(Wire, SmallRecordLayoutIsWhatTheTestsPatch) {
    std::string wire = serialize(small_outcome());
    EXPECT_EQ(wire.substr(kReadingsCountAt, 4), std::string(4, '\0'));
    EXPECT_EQ(static_cast<unsigned char>(wire[kVerdictAt]), 2u);
    EXPECT_EQ(static_cast<unsigned char>(wire[kVerdictAt + 1]), 0u);  // bytes: 0
    EXPECT_EQ(static_cast<unsigned char>(wire[kFindingsCountAt]), 1u);
    EXPECT_EQ(static_cast<unsigned char>(wire[kFirstFindingAt]), 1u);
    EXPECT_EQ(wire[kFirstFindingAt + 4], 'r');
}

TEST(Wire, TruncatedRecordIsRejectedAtEveryLength) {
    std::string wire = serialize(full_outcome());
    for (std::size_t n = 0; n < wire.size(); ++n) {
        // A copy of exactly n bytes, so a read past its end is a heap
        // over-read that the sanitizer builds report.
        std::string prefix = wire.substr(0, n);
        auto back = deserialize(prefix);
        ASSERT_FALSE(back) << "a record cut to " << n << " of " << wire.size() << " bytes was accepted";
        EXPECT_EQ(back.error().kind, error_kind::malformed);
        EXPECT_LE(back.error().offset, n);
    }
}

TEST(Wire, TrailingBytesAreRejected) {
    std::string wire = serialize(full_outcome()) + '\0';
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().offset, wire.size() - 1);
    EXPECT_NE(back.error().reason.find("follow the end"), std::string::npos) << back.error().reason;
}

TEST(Wire, StringLengthPastTheEndIsRejected) {
    for (std::uint32_t len : {0xffffffffu, 0x80000000u, 1000u}) {
        std::string wire = serialize(small_outcome());
        put_u32(wire, kFirstFindingAt, len);
        auto back = deserialize(wire);
        ASSERT_FALSE(back) << len;
        EXPECT_EQ(back.error().offset, kFirstFindingAt);
    }
}

TEST(Wire, ItemCountPastTheEndIsRejectedBeforeReserving) {
    // A count of 2^32-1 findings: reserving it would ask for ~1 TB. The count
    // is checked against the bytes left (each finding takes at least 27).
    for (std::uint32_t count : {0xffffffffu, 0x10000000u, 2u}) {
        std::string wire = serialize(small_outcome());
        put_u32(wire, kFindingsCountAt, count);
        auto back = deserialize(wire);
        ASSERT_FALSE(back) << count;
        EXPECT_EQ(back.error().offset, kFindingsCountAt);
        EXPECT_NE(back.error().reason.find("cannot fit"), std::string::npos) << back.error().reason;
    }
}

TEST(Wire, VerdictOutOfRangeIsRejected) {
    std::string wire = serialize(small_outcome());
    wire[kVerdictAt] = 3;  // safe, unsafe, error: 0..2
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().offset, kVerdictAt);
    wire[kVerdictAt] = 1;  // unsafe: in range (safe would contradict its violation)
    EXPECT_TRUE(deserialize(wire));
}

// The technique: the verdict byte of an unsafe file's record flipped to 0
// (safe), its findings left as they are. Every field is in range, so only
// the check of the verdict against the findings refuses it.
TEST(Wire, VerdictFlippedToSafeBesideAViolationIsRejected) {
    scan_outcome o = small_outcome();
    o.report.verdict = verdict::unsafe;
    ASSERT_TRUE(o.report.findings[0].violation);
    std::string wire = serialize(o);
    ASSERT_TRUE(deserialize(wire));
    wire[kVerdictAt] = 0;
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().kind, error_kind::malformed);
    EXPECT_NE(back.error().reason.find("a finding is a violation"), std::string::npos) << back.error().reason;
    // A skipped file's record carries no verdict of its own.
    o.skip_reason = "not a pickle container";
    o.report.verdict = verdict::safe;
    EXPECT_TRUE(deserialize(serialize(o)));
}

TEST(Wire, SeverityOutOfRangeIsRejected) {
    std::string wire = serialize(small_outcome());
    const std::size_t at = kFirstFindingAt + 5;  // after the rule "r"
    wire[at] = static_cast<char>(static_cast<std::uint8_t>(severity::critical) + 1);
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().offset, at);
}

TEST(Wire, FlagOtherThanZeroOrOneIsRejected) {
    std::string wire = serialize(small_outcome());
    wire[0] = 2;  // the skip-reason flag
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().offset, 0u);
}

// ---- locations: steps, each checked as it is read ---------------------------------

// small_outcome() with its finding at `where`: the finding's member is its
// location, after the rule (5 bytes), the severity (1) and the empty message (4).
std::string with_member(const location& where) {
    scan_outcome o = small_outcome();
    o.report.findings[0].member = where;
    return serialize(o);
}
constexpr std::size_t kFirstMemberAt = kFirstFindingAt + 5 + 1 + 4;  // u32 step count
constexpr std::size_t kFirstStepAt = kFirstMemberAt + 4;              // u8 kind, name, u64 index, u64 offset

TEST(Wire, LocationStepsCrossTheWireAsSteps) {
    // A member named like the steps the scan adds stays one member step: the
    // parent gets the steps the worker made, not a text to parse.
    const location tricky = location{}.member("a > argument 0 of pickle.loads at offset 5 (pickle 2 at offset 9)");
    const location nested = location{}.member("a").argument("pickle.loads", 0, 5).pickle(2, 9);
    ASSERT_EQ(to_string(tricky), to_string(nested));
    for (const location& where : {tricky, nested, location{}, location{}.member("")}) {
        std::string wire = with_member(where);
        auto back = deserialize(wire);
        ASSERT_TRUE(back) << back.error().reason;
        EXPECT_TRUE(back.value().report.findings[0].member == where) << to_string(where);
    }
    EXPECT_EQ(static_cast<unsigned char>(with_member(tricky)[kFirstMemberAt]), 1u);
    EXPECT_EQ(static_cast<unsigned char>(with_member(nested)[kFirstMemberAt]), 3u);
    EXPECT_EQ(with_member(nested)[kFirstStepAt], static_cast<char>(step_kind::member));
}

TEST(Wire, StepKindOutOfRangeIsRejected) {
    std::string wire = with_member(location{}.member("m"));
    wire[kFirstStepAt] = static_cast<char>(static_cast<std::uint8_t>(step_kind::part) + 1);
    auto back = deserialize(wire);
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().offset, kFirstStepAt);
}

TEST(Wire, StepCountPastTheEndIsRejectedBeforeReserving) {
    for (std::uint32_t count : {0xffffffffu, 0x10000000u, 0x1000u}) {
        std::string wire = with_member(location{}.member("m"));
        put_u32(wire, kFirstMemberAt, count);
        auto back = deserialize(wire);
        ASSERT_FALSE(back) << count;
        EXPECT_EQ(back.error().offset, kFirstMemberAt);
        EXPECT_NE(back.error().reason.find("cannot fit"), std::string::npos) << back.error().reason;
    }
}

TEST(Wire, StepsWithFieldsTheirKindDoesNotHaveAreRejected) {
    // One spelling per location: a field a kind does not use is empty or zero,
    // a pickle after STOP is number 2 or later, an argument names its callable.
    const struct {
        location_step step;
        const char* why;
    } bad[] = {
        {{step_kind::member, "m", 1, 0}, "index or an offset"},
        {{step_kind::member, "m", 0, 7}, "index or an offset"},
        {{step_kind::part, "count", 0, 7}, "index or an offset"},
        {{step_kind::pickle, "x", 2, 7}, "has a name"},
        {{step_kind::pickle, "", 1, 7}, "not 2 or later"},
        {{step_kind::pickle, "", 0, 0}, "not 2 or later"},
        {{step_kind::argument, "", 0, 7}, "names no callable"},
    };
    for (const auto& b : bad) {
        // After a well-formed step, so the fault's offset is the second step's.
        const location where = location{}.member("m").then(b.step);
        const std::size_t second = kFirstStepAt + 1 + 4 + 1 + 8 + 8;
        auto back = deserialize(with_member(where));
        ASSERT_FALSE(back) << b.why;
        EXPECT_EQ(back.error().offset, second) << b.why;
        EXPECT_NE(back.error().reason.find(b.why), std::string::npos) << back.error().reason;
    }
    for (const location_step& good : {location_step{step_kind::pickle, "", 2, 0},
                                      location_step{step_kind::argument, "pickle.loads", 0, 0},
                                      location_step{step_kind::part, "", 0, 0}})
        EXPECT_TRUE(deserialize(with_member(location{}.then(good))));
}

TEST(Wire, ReportStringsThatAreNotUtf8StillMakeValidJson) {
    // Found by wire_fuzzer: a rule id that is not UTF-8 made the parent's
    // JSON writer (nlohmann::json) throw, so a worker could crash the parent
    // through its report. Strings cross as bytes (member names may be any
    // bytes in-process too); every string the report writers emit is made
    // valid UTF-8, even the ones the library writes itself.
    for (std::string bad : {std::string("\xff"), std::string("\xc3"), std::string("\xed\xa0\x80"),
                            std::string("\xc0\xaf")}) {
        scan_outcome o = full_outcome();
        finding& f = o.report.findings[0];
        f.rule = f.opcode = f.message = f.module = f.name = bad;
        f.member = location{}.member(bad).argument(bad, 0, 1).part(bad);
        global_report& g = o.report.globals[0];
        g.module = g.name = g.raw_module = g.raw_name = g.opcode = bad;
        g.member = location{}.member(bad);
        o.report.format = o.report.path = bad;
        auto back = deserialize(serialize(o));
        ASSERT_TRUE(back);
        EXPECT_EQ(back.value().report.findings[0].rule, bad);
        std::string json, sarif;
        ASSERT_NO_THROW(json = report_json({back.value().report}, {{bad, bad}}, bad));
        ASSERT_NO_THROW(sarif = report_sarif({back.value().report}, bad));
        EXPECT_EQ(json.find(bad), std::string::npos);
        EXPECT_NE(json.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
    }
}

TEST(Wire, EverySingleByteChangeIsRejectedOrReadsConsistently) {
    // Not a proof, a cheap sweep: whatever one changed byte does, the result
    // is an error or a record that serializes back to the changed bytes.
    const std::string wire = serialize(full_outcome());
    for (std::size_t i = 0; i < wire.size(); ++i) {
        for (int v : {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff}) {
            std::string changed = wire;
            changed[i] = static_cast<char>(v);
            auto back = deserialize(changed);
            if (back) {
                EXPECT_EQ(serialize(back.value()), changed) << "byte " << i << " = " << v;
            }
        }
    }
}

}  // namespace
}  // namespace pickleguard::sandbox
