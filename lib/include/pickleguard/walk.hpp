// pickleguard/walk.hpp — which files `pickleguard scan PATH...` reads, and
// what it tells about the rest: the walk of the directories it is given
// (lib/src/scan/walk.cpp). Public so that every front end walks alike: the
// CLI, and the Python package's cluster scan (python/pickleguard/cluster.py).
//
//     auto found = pickleguard::walk_paths({"models"}, {.exclude = {"*.json"}});
//     // found.files to scan; found.errors and found.skipped go into the report
//
// Nothing the file system does may turn into a quiet "0 files": a directory
// that cannot be listed and a path that cannot be looked at are `error`
// reports; FIFOs, devices and sockets are refused (a named one is an error,
// one found by walking is listed as skipped), since opening a FIFO blocks
// and a device may never end; a symbolic link that is not followed is listed
// as skipped; with --follow-symlinks every directory is walked once, so a
// link back to a directory that contains it (a loop) is reported and not
// walked again, as fts(3) reports FTS_DC.
#pragma once

#include "pickleguard/sandbox.hpp"

#include "pickleguard/report.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

struct walk_options {
    bool follow_symlinks = false;
    std::vector<std::string> include, exclude;  // globs, checked with glob_error first
};

struct walk_result {
    std::vector<scan_job> files;        // "-" (standard input) as given, each named file, or a directory's files sorted by path, in argument order
    std::vector<file_report> errors;    // verdict error: what could not be looked at or listed, or is refused
    std::vector<skipped_file> skipped;  // found by walking and not read, with the reason
    std::vector<std::string> warnings;  // for standard error: file system loops
};

walk_result walk_paths(const std::vector<std::string>& paths, const walk_options& options);

// Empty, or why `glob` is not a valid --include / --exclude pattern
// (fnmatch(3) syntax): an unclosed '[', a trailing '\', an unknown
// [:class:], an empty pattern. fnmatch itself takes an unclosed '[' as a
// pattern that matches nothing, which made `--include '['` scan 0 files.
std::string glob_error(std::string_view glob, bool include);

}  // namespace pickleguard
