// Writing policy files: what `policy infer` and `policy generate` share
// (policy_write.cpp). Both write TOML made from names they did not choose
// (found in trusted files, or in a library's code), so every name is quoted
// as a TOML string and every comment made one line; both parse what they
// wrote before writing it, against the directory it will be read from.
//
//     std::string out = "name = " + toml_string(name) + "\n";
//     out += "include = " + toml_array(includes) + "\n";   // include = ["python"]
//     out += "# first at " + comment_safe(path) + "\n";
//     auto parsed = parse_policy(out, "inferred policy", policy_dir(args.output));
#pragma once

#include "pickleguard/policy.hpp"

#include <span>
#include <string>
#include <string_view>

namespace pickleguard::cli {

// A TOML basic string: quotes, backslashes and control characters escaped;
// other bytes as they are (a UTF-8 name stays readable).
std::string toml_string(std::string_view s);

// The argument bounds of `e` as the lines of an [[allow]] entry
// (max_int_arg ... args), empty when it has none. An entry written for a
// global an include already lists is merged with it as a union, which
// drops every bound the written entry lacks: `policy infer` copies them.
std::string bound_lines(const allow_entry& e);

// A TOML array of basic strings, on one line: ["a", "b"].
std::string toml_array(std::span<const std::string> items);

// Text for a comment line: a name with a newline must not end the comment
// and start a TOML table, so control characters are written as \xHH; UTF-8
// stays as it is.
std::string comment_safe(std::string_view s);
// The same, and every byte outside ASCII as \xHH too: a generated policy is
// ASCII outside its strings.
std::string comment_safe_ascii(std::string_view s);

// The policy's name when --name is not given: the output file's stem, or
// `fallback` when the policy goes to standard output.
std::string policy_name(const std::string& given, const std::string& output, std::string_view fallback);

// Where the includes of a policy written to `output` are looked up, as
// load_policy_file will when it is read: the output file's directory, or
// the working directory when it goes to standard output.
std::string policy_dir(const std::string& output);

}  // namespace pickleguard::cli
