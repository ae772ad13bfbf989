// The directory walk of `pickleguard scan` (pickleguard/walk.hpp).
//
// Own code rather than std::filesystem::recursive_directory_iterator, whose
// skip_permission_denied dropped unreadable directories without a word and
// whose follow_directory_symlink has no loop detection (a `sub/up -> ..` link
// gave 81 "files" for 2), and rather than fts(3), which under FTS_LOGICAL
// stats every entry where readdir's d_type already tells a regular file (a
// directory of 10,000 small files is the benchmark). What fts does is kept:
// the device and inode of every directory walked, a loop reported (FTS_DC)
// instead of entered, FTS_DNR (unreadable directory) an error. An explicit
// stack: no recursion that follows the input.
#include "pickleguard/walk.hpp"

#include "pickleguard/input.hpp"
#include "pickleguard/rules.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace pickleguard {
namespace {

std::string refused_message(unsigned mode) {
    return std::string("is ") + special_file_kind(mode) +
           ", not a regular file: pickleguard reads only regular files (opening a FIFO waits for a writer, and a "
           "FIFO or device may never end)";
}

// A compiled --include/--exclude glob. One with a '/' matches a path: the
// path as printed (a leading "./" aside on both sides) or, as before, the
// path below the directory given; one without matches the name. A trailing
// '/' (exclude only) matches directories only.
struct glob {
    std::string pattern;
    bool has_slash = false;
    bool dirs_only = false;
};

std::string_view without_dot_slash(std::string_view s) {
    while (s.size() > 2 && s[0] == '.' && s[1] == '/') s.remove_prefix(2);
    return s;
}

glob compile_glob(std::string_view g) {
    glob out;
    if (g.size() > 1 && g.back() == '/') {
        out.dirs_only = true;
        g.remove_suffix(1);
    }
    out.pattern = std::string(without_dot_slash(g));
    out.has_slash = out.pattern.find('/') != std::string::npos;
    return out;
}

bool fn(const std::string& pattern, std::string_view text) {
    return ::fnmatch(pattern.c_str(), std::string(text).c_str(), 0) == 0;
}

bool glob_matches(const glob& g, std::string_view printed, std::string_view relative, std::string_view name,
                  bool is_dir) {
    if (g.dirs_only && !is_dir) return false;
    if (!g.has_slash) return fn(g.pattern, name);
    return fn(g.pattern, without_dot_slash(printed)) || fn(g.pattern, relative);
}

struct file_id {
    dev_t dev;
    ino_t ino;
    bool operator==(const file_id&) const = default;
};
struct file_id_hash {
    std::size_t operator()(const file_id& f) const noexcept { return std::hash<std::uint64_t>{}(f.ino * 31 + f.dev); }
};

// One walk of a directory named on the command line.
class walker {
public:
    walker(const walk_options& options, walk_result& out) : out_(out), follow_(options.follow_symlinks) {
        for (const std::string& g : options.include) include_.push_back(compile_glob(g));
        for (const std::string& g : options.exclude) exclude_.push_back(compile_glob(g));
    }

    void walk(const std::string& root) {
        pending_.push_back({root, "", npos, true});
        std::vector<scan_job> found;
        while (!pending_.empty()) {
            pending_dir d = std::move(pending_.back());
            pending_.pop_back();
            list(d, found);
        }
        std::sort(found.begin(), found.end(), [](const scan_job& a, const scan_job& b) { return a.path < b.path; });
        out_.files.insert(out_.files.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    struct pending_dir {
        std::string path, relative;
        std::size_t parent;  // index in walked_, npos for the root
        bool top;
    };
    struct walked_dir {
        std::string path;
        file_id id;
        std::size_t parent;
    };
    struct entry {
        std::string name;
        unsigned char type;
    };

    std::string join(const std::string& dir, const std::string& name) const {
        return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
    }

    bool excluded(std::string_view printed, std::string_view relative, std::string_view name, bool is_dir) const {
        for (const glob& g : exclude_)
            if (glob_matches(g, printed, relative, name, is_dir)) return true;
        return false;
    }

    bool selected(std::string_view printed, std::string_view relative, std::string_view name) const {
        if (excluded(printed, relative, name, false)) return false;
        if (include_.empty()) return true;
        for (const glob& g : include_)
            if (glob_matches(g, printed, relative, name, false)) return true;
        return false;
    }

    void list(const pending_dir& d, std::vector<scan_job>& found) {
        // O_NOFOLLOW below the top unless links are followed: a directory
        // swapped for a link after readdir saw it is not walked into.
        int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
        if (!d.top && !follow_) flags |= O_NOFOLLOW;
        int fd = ::open(d.path.c_str(), flags);
        struct stat st {};
        if (fd >= 0 && ::fstat(fd, &st) != 0) {
            int err = errno;
            ::close(fd);
            fd = -1;
            errno = err;
        }
        if (fd < 0) {
            out_.errors.push_back(file_report::error(d.path, rule::unreadable_directory,
                                           d.path + ": cannot list the directory: " + std::strerror(errno) +
                                               "; nothing in it was checked"));
            return;
        }
        file_id id{st.st_dev, st.st_ino};
        auto [seen, inserted] = visited_.try_emplace(id, d.path);
        if (!inserted) {
            ::close(fd);
            // Reached again: only through a followed link (or a bind mount).
            // On the current path it is a loop; elsewhere a second way into a
            // directory walked once already. Nothing is missed either way.
            for (std::size_t a = d.parent; a != npos; a = walked_[a].parent) {
                if (walked_[a].id == id) {
                    std::string why = "file system loop: the same directory as " + walked_[a].path +
                                      ", which contains it; not walked again";
                    out_.warnings.push_back(d.path + ": " + why);
                    out_.skipped.push_back({d.path, why});
                    return;
                }
            }
            out_.skipped.push_back({d.path, "the same directory as " + seen->second + ", walked there"});
            return;
        }
        std::size_t self = walked_.size();
        walked_.push_back({d.path, id, d.parent});

        DIR* dir = ::fdopendir(fd);
        if (!dir) {
            int err = errno;
            ::close(fd);
            out_.errors.push_back(file_report::error(d.path, rule::unreadable_directory,
                                           d.path + ": cannot list the directory: " + std::strerror(err)));
            return;
        }
        std::vector<entry> entries;
        errno = 0;
        while (const dirent* e = ::readdir(dir)) {
            if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
            entries.push_back({e->d_name, e->d_type});
            errno = 0;
        }
        if (errno != 0)
            out_.errors.push_back(file_report::error(d.path, rule::unreadable_directory,
                                           d.path + ": error while listing the directory: " + std::strerror(errno) +
                                               "; some of it was not checked"));
        std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) { return a.name < b.name; });

        std::vector<pending_dir> subdirs;
        for (entry& e : entries) {
            std::string relative = d.relative.empty() ? e.name : d.relative + "/" + e.name;
            std::string printed = join(d.path, e.name);
            unsigned mode = 0;
            bool link = false;
            if (e.type == DT_UNKNOWN || e.type == DT_LNK) {
                // readdir does not say (some file systems), or it is a link:
                // look, at the link itself first.
                struct stat est {};
                if (::fstatat(::dirfd(dir), e.name.c_str(), &est, AT_SYMLINK_NOFOLLOW) != 0) {
                    if (errno != ENOENT)  // gone since readdir: nothing to read
                        out_.errors.push_back(
                            file_report::error(printed, rule::unreadable_file, printed + ": " + std::strerror(errno)));
                    continue;
                }
                mode = est.st_mode;
                link = S_ISLNK(mode);
                if (link) {
                    if (!follow_) {
                        if (selected(printed, relative, e.name))
                            out_.skipped.push_back(
                                {printed, "symbolic link, not followed (--follow-symlinks follows it)"});
                        continue;
                    }
                    if (::fstatat(::dirfd(dir), e.name.c_str(), &est, 0) != 0) {
                        int err = errno;
                        if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
                            if (selected(printed, relative, e.name))
                                out_.skipped.push_back(
                                    {printed, std::string("symbolic link that leads nowhere: ") + std::strerror(err)});
                        } else {
                            out_.errors.push_back(file_report::error(printed, rule::unreadable_file,
                                                           printed + ": cannot follow the link: " + std::strerror(err)));
                        }
                        continue;
                    }
                    mode = est.st_mode;
                }
            } else {
                mode = e.type == DT_DIR ? S_IFDIR : e.type == DT_REG ? S_IFREG : DTTOIF(e.type);
            }
            if (S_ISDIR(mode)) {
                // --exclude prunes the directories it matches.
                if (!excluded(printed, relative, e.name, true)) subdirs.push_back({printed, relative, self, false});
                continue;
            }
            if (!selected(printed, relative, e.name)) continue;
            // Opened without following links unless this entry is one
            // (followed, --follow-symlinks): the walk saw a regular file.
            if (S_ISREG(mode)) found.push_back({std::move(printed), false, -1, !link});
            else out_.skipped.push_back({printed, refused_message(mode)});
        }
        ::closedir(dir);
        // Sorted order on a stack: the first name is walked first.
        for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) pending_.push_back(std::move(*it));
    }

    walk_result& out_;
    bool follow_;
    std::vector<glob> include_, exclude_;
    std::vector<pending_dir> pending_;
    std::vector<walked_dir> walked_;
    std::unordered_map<file_id, std::string, file_id_hash> visited_;  // every directory walked, by device and inode
};

bool known_class(std::string_view name) {
    for (std::string_view c : {"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
                               "space", "upper", "xdigit"})
        if (name == c) return true;
    return false;
}

}  // namespace

std::string glob_error(std::string_view g, bool include) {
    if (g.empty()) return "an empty pattern matches nothing";
    if (g.back() == '/' && include)
        return "--include matches files; a trailing '/' would match directories only (write 'dir/*' for the files "
               "below dir)";
    for (std::size_t i = 0; i < g.size(); ++i) {
        char c = g[i];
        if (c == '\\') {
            if (++i == g.size()) return "ends with an escaping '\\' that escapes nothing";
            continue;
        }
        if (c != '[') continue;
        // A bracket expression, as fnmatch(3) reads one: '!' or '^' negates,
        // a ']' first is literal, [:class:] [.c.] [=c=] nest.
        std::size_t j = i + 1;
        if (j < g.size() && (g[j] == '!' || g[j] == '^')) ++j;
        if (j < g.size() && g[j] == ']') ++j;
        bool closed = false;
        while (j < g.size()) {
            if (g[j] == '\\') {
                j += 2;
                continue;
            }
            if (g[j] == '[' && j + 1 < g.size() && (g[j + 1] == ':' || g[j + 1] == '.' || g[j + 1] == '=')) {
                char kind = g[j + 1];
                std::size_t end = g.find(std::string{kind, ']'}, j + 2);
                if (end == std::string_view::npos) break;
                if (kind == ':' && !known_class(g.substr(j + 2, end - j - 2)))
                    return "unknown character class '[:" + std::string(g.substr(j + 2, end - j - 2)) + ":]'";
                j = end + 2;
                continue;
            }
            if (g[j] == ']') {
                closed = true;
                break;
            }
            ++j;
        }
        if (!closed)
            return "the '[' at position " + std::to_string(i + 1) +
                   " is never closed by ']' (write '\\[' for a literal '[')";
        i = j;
    }
    return {};
}

walk_result walk_paths(const std::vector<std::string>& paths, const walk_options& options) {
    walk_result out;
    walker w(options, out);
    for (const std::string& p : paths) {
        // "-" is standard input, read as one named file (the worker pool
        // reads it as a stream); "./-" names a file called "-".
        if (p == "-") {
            out.files.push_back({p, true});
            continue;
        }
        // A named path is looked at through links, as any loader opens it.
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            int err = errno;
            out.errors.push_back(file_report::error(p, rule::unreadable_file,
                                          p + ": " + std::strerror(err) +
                                              (err == ENOENT ? "" : "; it cannot be looked at, so it was not checked")));
            continue;
        }
        if (S_ISDIR(st.st_mode)) w.walk(p);
        else if (S_ISREG(st.st_mode)) out.files.push_back({p, true});
        else out.errors.push_back(file_report::error(p, rule::not_a_regular_file, p + ": " + refused_message(st.st_mode)));
    }
    return out;
}

}  // namespace pickleguard
