// pickleguard/location.hpp — where in a file a finding is, as steps.
//
// A finding or a global names the stream it was found in by the path a
// loader takes to reach it from the file: into a container member (or a
// decompressed stream, or one reading of a polyglot), to a pickle after a
// STOP, into the bytes a call hands to a nested loader. Readers, the scan
// stage and the judge append steps; only the report renders them as text
// (to_string below), so a tool that needs the stream back (`explain`) walks
// the steps instead of parsing a name, part of which the file chose.
//
//     location where = location{}.member("archive/data.pkl").argument("pickle.loads", 0, 12);
//     to_string(where) == "archive/data.pkl > argument 0 of pickle.loads at offset 12"
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pickleguard {

enum class step_kind : std::uint8_t {
    member,    // a container member, a decompressed stream, a reading: `name` ("archive/data.pkl", "gzip")
    pickle,    // the pickle number `index` (2, 3, ...) that starts at `offset`, after the STOP of the one before
    argument,  // argument `index` of the call of `name` (a nested loader, "pickle.loads") at `offset`
    part,      // a pickle a reader takes from its own place in a member: `name` ("count", "entry 3")
};

struct location_step {
    step_kind kind = step_kind::member;
    std::string name;          // member and part: as the reader names it; argument: the callable, module.name
    std::uint64_t index = 0;   // pickle: its number; argument: the argument's position; else 0
    std::uint64_t offset = 0;  // pickle: where it starts; argument: the call's opcode; else 0
    auto operator<=>(const location_step&) const = default;
};

struct location {
    std::vector<location_step> steps;  // outermost first; none for the file itself

    // This location, one step further in.
    location member(std::string name) const { return then({step_kind::member, std::move(name), 0, 0}); }
    location pickle(std::uint64_t index, std::uint64_t offset) const { return then({step_kind::pickle, {}, index, offset}); }
    location argument(std::string callable, std::uint64_t index, std::uint64_t offset) const {
        return then({step_kind::argument, std::move(callable), index, offset});
    }
    location part(std::string name) const { return then({step_kind::part, std::move(name), 0, 0}); }
    location then(location_step step) const {
        location out = *this;
        out.steps.push_back(std::move(step));
        return out;
    }

    auto operator<=>(const location&) const = default;
};

// The report's text for a location (the JSON and SARIF `member`, the text
// report, the command line): member names joined with " > ", a pickle after
// STOP as " (pickle K at offset X)", a nested loader's bytes as
// " > argument I of M.N at offset O", a part as " (name)". A member with an
// empty name adds nothing, so the file itself and a member named "" both read
// "" (the JSON's null). Text is for people: it is not parsed back.
std::string to_string(const location& where);

}  // namespace pickleguard
