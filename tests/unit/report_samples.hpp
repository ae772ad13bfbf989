// Test helper: report parts with every field set by hand, which the report
// writers' tests (report_json_test, wire_test) fill their reports from.
// Hand-set, not filled from report_schema.hpp's tables: the tests that use
// them check those tables, so they must not depend on them.
#pragma once

#include "pickleguard/policy.hpp"
#include "pickleguard/scan.hpp"

namespace pickleguard::testing {

// Every field set, none to its default (violation's default is true).
inline finding full_finding() {
    finding f;
    f.rule = "global-not-allowed";
    f.severity = severity::critical;
    f.message = "os.system is not allowed";
    f.member = location{}.member("archive/data.pkl");
    f.offset = 42;
    f.opcode = "STACK_GLOBAL";
    f.module = "os";
    f.name = "system";
    f.violation = false;
    return f;
}

// Every field set, none to its default, numbers wider than 32 bits.
inline global_report full_global() {
    global_report g;
    g.module = "builtins";
    g.name = "getattr";
    g.raw_module = "__builtin__";
    g.raw_name = "getattr";
    g.member = location{}.member("archive/data.pkl");
    g.allowed = true;
    g.uses = uses::call | uses::build;
    g.offset = 0xfedcba9876543210ULL;
    g.opcode = "GLOBAL";
    g.protocol = 2;
    return g;
}

}  // namespace pickleguard::testing
