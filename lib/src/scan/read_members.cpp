// read_members: the readers' members and pickle streams, captured by name
// instead of judged. It hosts the readers exactly as scan_file does (every
// reading, the zip end record looked for behind the others, joblib's array
// layout followed, the same depth limit), so every name a finding's
// `member` can carry from a reader is here with its bytes.
#include "pickleguard/members.hpp"

#include "pickleguard/read.hpp"
#include "pickleguard/rules.hpp"
#include "scan/open_member.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <utility>

namespace pickleguard {
namespace {

class capture final : public read::reader_host {
public:
    capture(std::span<const std::byte> file, const scan_options& options, std::vector<file_member>& members,
            std::vector<finding>& findings, std::deque<std::vector<std::byte>>& owned)
        : file_(file), options_(options), members_(members), owned_(owned), ctx_{*this, options, findings} {
        ctx_.lasting = file;
    }

    // Opened as scan_file opens it (open_member), after keeping the bytes:
    // the readers nested in it read the kept copy.
    void member(read::bytes_view bytes, const location& name, int depth) override {
        if (depth <= options_.containers.max_depth) {
            bytes = keep(bytes);
            record(name, bytes, ctx_.readings_once(bytes), false);
        }
        scan::open_member(ctx_, bytes, name, depth,
                          [this](read::bytes_view b, const location& n) { joblib_pickle(b, n); });
    }

    void pickle(read::bytes_view bytes, const location& name,
                const std::function<void(const decoding&)>* decoded) override {
        bytes = keep(bytes);
        record(name, bytes, {format::pickle}, true);
        ++pickles_;
        // A reader that needs the first stream's values (torch's storage
        // records) gets them, so it goes on as it does under scan_file.
        if (decoded) (*decoded)(decode(bytes, options_.decode));
    }

    std::uint64_t pickles() const override { return pickles_; }

private:
    // As file_scan::joblib_pickle: joblib.load's reading hands each object
    // array on as a pickle of its own, in the first stream and in every
    // pickle after its STOP (scan_streams reads those with the same hook).
    void joblib_pickle(read::bytes_view bytes, const location& name) {
        record(name, bytes, {format::pickle}, true);
        ++pickles_;
        bool wrappers = false;
        decode_options dopt = options_.decode;
        dopt.after_build = read::joblib_array_reader(ctx_, bytes, name, wrappers);
        std::size_t offset = 0;
        for (;;) {
            decoding d = decode(bytes, dopt, offset);
            if (d.failure || d.end >= bytes.size() || !options_.scan_trailing_pickles) return;
            offset = static_cast<std::size_t>(d.end);
        }
    }

    // Bytes in the file, or in a copy already kept, stay where they are;
    // anything else is a reader's buffer (a decompressed stream, an inflated
    // zip entry) that dies when the call returns, so it is copied, and the
    // copy is what nested readers see.
    // The copies are looked up by address (kept_, start -> end), not walked:
    // a zip of many entries would make each member cost all before it.
    read::bytes_view keep(read::bytes_view bytes) {
        if (within(bytes, file_)) return bytes;
        if (!bytes.empty()) {
            auto after = kept_.upper_bound(bytes.data());
            if (after != kept_.begin()) {
                auto copy = std::prev(after);
                if (within(bytes, {copy->first, copy->second})) return bytes;
            }
        }
        owned_.emplace_back(bytes.begin(), bytes.end());
        read::bytes_view copy = read::view_of(owned_.back());
        if (!copy.empty()) kept_.emplace(copy.data(), copy.data() + copy.size());
        return copy;
    }

    static bool within(read::bytes_view inner, read::bytes_view outer) {
        if (inner.empty()) return true;
        std::less_equal<const std::byte*> le;
        return le(outer.data(), inner.data()) && le(inner.data() + inner.size(), outer.data() + outer.size());
    }

    // A name already recorded for the same bytes is one member: a member
    // that is read as a pickle, a stream handed on twice.
    // The members recorded at a byte range are looked up by it (recorded_),
    // so recording stays linear in the members however many there are.
    void record(const location& where, read::bytes_view bytes, std::vector<format> readings, bool pickle) {
        auto [first, last] = recorded_.equal_range({bytes.data(), bytes.size()});
        for (auto it = first; it != last; ++it) {
            file_member& m = members_[it->second];
            if (m.where != where) continue;
            m.pickle = m.pickle || pickle;
            for (format f : readings)
                if (std::find(m.readings.begin(), m.readings.end(), f) == m.readings.end()) m.readings.push_back(f);
            return;
        }
        recorded_.emplace(std::pair{bytes.data(), bytes.size()}, members_.size());
        members_.push_back({to_string(where), where, bytes, std::move(readings), pickle});
    }

    std::span<const std::byte> file_;
    const scan_options& options_;
    std::vector<file_member>& members_;
    std::deque<std::vector<std::byte>>& owned_;
    read::read_context ctx_;
    std::uint64_t pickles_ = 0;
    std::map<const std::byte*, const std::byte*, std::less<>> kept_;
    std::multimap<std::pair<const std::byte*, std::size_t>, std::size_t> recorded_;  // range -> index in members_
};

std::string quoted_names(const std::vector<file_member>& members) {
    constexpr std::size_t kShown = 10;
    std::string out;
    for (std::size_t i = 0; i < members.size() && i < kShown; ++i)
        out += (i ? ", '" : "'") + members[i].name + "'";
    if (members.size() > kShown) out += " and " + std::to_string(members.size() - kShown) + " more";
    return out;
}

}  // namespace

std::vector<const file_member*> file_members::pickles() const {
    std::vector<const file_member*> out;
    for (const file_member& m : members_)
        if (m.pickle) out.push_back(&m);
    return out;
}

result<const file_member*> file_members::find(std::string_view name) const {
    const file_member* found = nullptr;
    std::size_t same = 0;
    for (const file_member& m : members_) {
        if (m.name != name) continue;
        // Equal bytes at another location are another member too: entry
        // "x" holding gzip(P) and entry "x > gzip" holding P render alike,
        // but their findings differ (the depth limit reaches one first).
        if (!found) found = &m;
        else if (m.where != found->where || m.bytes.size() != found->bytes.size() ||
                 (m.bytes.data() != found->bytes.data() &&
                  std::memcmp(m.bytes.data(), found->bytes.data(), m.bytes.size()) != 0))
            ++same;
    }
    error e;
    e.kind = error_kind::usage;
    if (!found) {
        e.reason = "no member named '" + std::string(name) + "'; the members are " + quoted_names(members_) +
                   " ('' is the file itself)";
        return e;
    }
    if (same) {
        e.reason = std::to_string(same + 1) + " different members are named '" + std::string(name) +
                   "' (an archive may hold two entries of one name); pickleguard cannot tell which one is meant";
        return e;
    }
    return found;
}

const file_member* file_members::find(const location& where) const {
    const file_member* found = nullptr;
    for (const file_member& m : members_) {
        if (m.where != where) continue;
        if (found && (m.bytes.size() != found->bytes.size() ||
                      (m.bytes.data() != found->bytes.data() &&
                       std::memcmp(m.bytes.data(), found->bytes.data(), m.bytes.size()) != 0)))
            return nullptr;  // two entries of one name: which one a finding means cannot be told
        if (!found) found = &m;
    }
    return found;
}

file_members read_members(std::span<const std::byte> bytes, const scan_options& options) {
    file_members out;
    capture host(bytes, options, out.members_, out.findings_, out.owned_);
    host.member(bytes, location{}, 0);
    return out;
}

}  // namespace pickleguard
