// pickleguard/report_schema.hpp — the report's fields, listed once.
//
// One table per struct of scan.hpp (file_report, finding, global_report):
// each row is a field's name as the JSON report spells it, the member it
// reads, and its kind. Everything that writes or reads a report walks these
// tables, so they cannot disagree: the JSON writer (report/), the worker wire
// format (sandbox/wire.cpp), and the Python package, which gets the table
// from its native module (`_pickleguard.report_schema`). Row order is the
// JSON report's key order, which is stable (docs/report-format.md): new
// fields go at the end of their table.
//
//     pickleguard::schema::for_each_field<pickleguard::finding>([&](auto field) {
//         std::cout << field.name << " = " << describe(report_finding.*field.member) << "\n";
//     });
//
// A member added to one of the structs without a row fails to compile here
// (the static_asserts below count the aggregate's members).
#pragma once

#include "pickleguard/scan.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace pickleguard::schema {

// What a field holds, and so how each format writes it.
enum class kind : std::uint8_t {
    text,             // std::string; JSON: a string, even when empty
    text_or_null,     // std::string; JSON: null when empty
    number,           // std::uint8_t or std::uint64_t; the wire keeps the width
    optional_number,  // std::optional<std::uint64_t>; JSON: null when absent
    flag,             // bool
    uses,             // std::uint8_t of pickleguard::uses bits; JSON: describe_uses' words
    enumeration,      // severity or verdict; JSON: to_string; the wire checks the range
    list,             // std::vector of strings or of a struct with a table here
    location,         // pickleguard::location; JSON: to_string's text, null when it is empty; the wire: its steps
};

inline constexpr std::array<std::string_view, 9> kind_names = {
    "text", "text_or_null", "number", "optional_number", "flag", "uses", "enumeration", "list", "location"};
static_assert(kind_names.size() == static_cast<std::size_t>(kind::location) + 1, "a kind without a name");
constexpr std::string_view to_string(kind k) noexcept { return kind_names[static_cast<std::size_t>(k)]; }

// The last value of each enumeration a report holds: what a reader of
// untrusted bytes checks a value against.
constexpr verdict last_value(verdict) noexcept { return verdict::error; }
constexpr severity last_value(severity) noexcept { return severity::critical; }
constexpr step_kind last_value(step_kind) noexcept { return step_kind::part; }

template <kind K, class Struct, class Member>
struct field {
    static constexpr schema::kind kind_value = K;
    using struct_type = Struct;
    using member_type = Member;
    std::string_view name;
    Member Struct::* member;
};

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};

// A row, with its kind checked against the member's type.
template <kind K, class Struct, class Member>
constexpr field<K, Struct, Member> row(std::string_view name, Member Struct::* member) {
    if constexpr (K == kind::text || K == kind::text_or_null)
        static_assert(std::is_same_v<Member, std::string>, "text fields are std::string");
    else if constexpr (K == kind::number)
        static_assert(std::is_same_v<Member, std::uint8_t> || std::is_same_v<Member, std::uint64_t>,
                      "numbers are std::uint8_t or std::uint64_t");
    else if constexpr (K == kind::optional_number)
        static_assert(std::is_same_v<Member, std::optional<std::uint64_t>>, "optional numbers are optional<uint64_t>");
    else if constexpr (K == kind::flag)
        static_assert(std::is_same_v<Member, bool>, "flags are bool");
    else if constexpr (K == kind::uses)
        static_assert(std::is_same_v<Member, std::uint8_t>, "uses are std::uint8_t bits");
    else if constexpr (K == kind::enumeration)
        static_assert(std::is_enum_v<Member> && sizeof(Member) == 1 &&
                          std::is_same_v<decltype(last_value(Member{})), Member>,
                      "enumerations are one byte and have a last_value");
    else if constexpr (K == kind::list)
        static_assert(is_vector<Member>::value, "lists are std::vector");
    else if constexpr (K == kind::location)
        static_assert(std::is_same_v<Member, pickleguard::location>, "locations are pickleguard::location");
    return {name, member};
}

// The tables. `table<T>::fields` is a tuple of rows; `table<T>::name` names
// the struct for the Python package.
template <class T> struct table;

template <> struct table<finding> {
    static constexpr std::string_view name = "finding";
    static constexpr auto fields = std::tuple{
        row<kind::text>("rule", &finding::rule),
        row<kind::enumeration>("severity", &finding::severity),
        row<kind::text>("message", &finding::message),
        row<kind::location>("member", &finding::member),
        row<kind::optional_number>("offset", &finding::offset),
        row<kind::text_or_null>("opcode", &finding::opcode),
        row<kind::text_or_null>("module", &finding::module),
        row<kind::text_or_null>("name", &finding::name),
        row<kind::flag>("violation", &finding::violation),
    };
};

template <> struct table<global_report> {
    static constexpr std::string_view name = "global_report";
    static constexpr auto fields = std::tuple{
        row<kind::text>("module", &global_report::module),
        row<kind::text>("name", &global_report::name),
        row<kind::text>("raw_module", &global_report::raw_module),
        row<kind::text>("raw_name", &global_report::raw_name),
        row<kind::location>("member", &global_report::member),
        row<kind::flag>("allowed", &global_report::allowed),
        row<kind::uses>("uses", &global_report::uses),
        row<kind::number>("offset", &global_report::offset),
        row<kind::text>("opcode", &global_report::opcode),
        row<kind::number>("protocol", &global_report::protocol),
    };
};

template <> struct table<file_report> {
    static constexpr std::string_view name = "file_report";
    static constexpr auto fields = std::tuple{
        row<kind::text>("path", &file_report::path),
        row<kind::text>("format", &file_report::format),
        row<kind::list>("readings", &file_report::readings),
        row<kind::enumeration>("verdict", &file_report::verdict),
        row<kind::number>("bytes", &file_report::bytes),
        row<kind::number>("pickles", &file_report::pickles),
        row<kind::list>("findings", &file_report::findings),
        row<kind::list>("globals", &file_report::globals),
    };
};

template <class T>
inline constexpr std::size_t field_count = std::tuple_size_v<std::remove_const_t<decltype(table<T>::fields)>>;

// Calls f(row) for each row of T's table, in order.
template <class T, class F>
constexpr void for_each_field(F&& f) {
    std::apply([&](const auto&... rows) { (f(rows), ...); }, table<T>::fields);
}

// ---- the checks that every member has exactly one row -------------------------

namespace detail {
template <class A, class B>
constexpr bool same_row(const A& a, const B& b) {
    if constexpr (std::is_same_v<typename A::member_type, typename B::member_type>)
        return a.member == b.member || a.name == b.name;
    else
        return a.name == b.name;
}
}  // namespace detail

// No member and no name is listed twice.
template <class T>
constexpr bool rows_are_distinct() {
    return std::apply(
        [](const auto&... rows) {
            auto once = [&](const auto& r) { return (int{detail::same_row(r, rows)} + ...) == 1; };
            return (once(rows) && ...);
        },
        table<T>::fields);
}

namespace detail {
// Converts to any member type, so T{any, any, ...} is valid for as many
// initializers as T has members and no more (none of the members is an
// aggregate itself, so no brace elision adds any).
struct any_member {
    template <class U>
    operator U() const;
};
template <class T, std::size_t... I>
constexpr bool initializable_from(std::index_sequence<I...>) {
    return requires { T{(void(I), any_member{})...}; };
}
}  // namespace detail

// The number of members of the aggregate T.
template <class T, std::size_t N = 0>
constexpr std::size_t aggregate_member_count() {
    static_assert(std::is_aggregate_v<T>);
    if constexpr (detail::initializable_from<T>(std::make_index_sequence<N + 1>{}))
        return aggregate_member_count<T, N + 1>();
    else
        return N;
}

static_assert(rows_are_distinct<finding>() && rows_are_distinct<global_report>() && rows_are_distinct<file_report>(),
              "a member or a name is listed twice in report_schema.hpp");
static_assert(aggregate_member_count<finding>() == field_count<finding>,
              "finding has a member without a row in report_schema.hpp (or a row too many)");
static_assert(aggregate_member_count<global_report>() == field_count<global_report>,
              "global_report has a member without a row in report_schema.hpp (or a row too many)");
static_assert(aggregate_member_count<file_report>() == field_count<file_report>,
              "file_report has a member without a row in report_schema.hpp (or a row too many)");

}  // namespace pickleguard::schema
