// Binary form of a scan_outcome: every integer is little-endian of fixed
// width, every string a u32 length then its bytes, every list a u32 count
// then its items, in the order the fields are declared in scan.hpp. It is
// private to one build of pickleguard (parent and workers are the same
// executable, forked), so it carries no version and is never stored.
#include "wire.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace pickleguard::sandbox {
namespace {

// A field added to these structs must be added here too; the sizes catch it
// on the platform CI builds (other ABIs lay the structs out differently).
#if defined(__x86_64__) && defined(__GLIBCXX__) && !defined(_GLIBCXX_DEBUG)
static_assert(sizeof(finding) == 224, "finding changed: update wire.cpp");
static_assert(sizeof(global_report) == 216, "global_report changed: update wire.cpp");
static_assert(sizeof(file_report) == 136, "file_report changed: update wire.cpp");
#endif

class writer {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class reader {
public:
    explicit reader(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool at_end() const { return pos_ == in_.size(); }

    std::uint8_t u8() {
        if (!need(1)) return 0;
        return static_cast<std::uint8_t>(in_[pos_++]);
    }
    std::uint32_t u32() {
        if (!need(4)) return 0;
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(in_[pos_++])} << (8 * i);
        return v;
    }
    std::uint64_t u64() {
        if (!need(8)) return 0;
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(in_[pos_++])} << (8 * i);
        return v;
    }
    bool flag() {
        std::uint8_t v = u8();
        if (v > 1) ok_ = false;
        return v == 1;
    }
    std::string str() {
        std::uint32_t n = u32();
        if (!need(n)) return {};
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    // A count of items each at least `min_item` bytes long: checked against
    // what is left, so a lying count cannot make us reserve gigabytes.
    std::uint32_t count(std::size_t min_item) {
        std::uint32_t n = u32();
        if (ok_ && n > (in_.size() - pos_) / min_item) ok_ = false;
        return ok_ ? n : 0;
    }
    template <class E>
    E enumerator(std::uint8_t last) {
        std::uint8_t v = u8();
        if (v > last) ok_ = false;
        return static_cast<E>(v);
    }

private:
    bool need(std::size_t n) {
        if (!ok_ || in_.size() - pos_ < n) {
            ok_ = false;
            return false;
        }
        return true;
    }
    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

constexpr std::uint8_t kLastVerdict = static_cast<std::uint8_t>(verdict::error);
constexpr std::uint8_t kLastSeverity = static_cast<std::uint8_t>(severity::critical);
constexpr std::size_t kMinFinding = 1 + 4 * 6 + 1 + 1 + 1;
constexpr std::size_t kMinGlobal = 4 * 6 + 1 + 1 + 8 + 1;

}  // namespace

std::string serialize(const scan_outcome& o) {
    writer w;
    const file_report& r = o.report;
    w.u8(o.skip_reason ? 1 : 0);
    if (o.skip_reason) w.str(*o.skip_reason);
    w.str(r.path);
    w.str(r.format);
    w.u8(static_cast<std::uint8_t>(r.verdict));
    w.u64(r.bytes);
    w.u64(r.pickles);
    w.u32(static_cast<std::uint32_t>(r.findings.size()));
    for (const finding& f : r.findings) {
        w.str(f.rule);
        w.u8(static_cast<std::uint8_t>(f.severity));
        w.str(f.message);
        w.str(f.member);
        w.u8(f.offset ? 1 : 0);
        if (f.offset) w.u64(*f.offset);
        w.str(f.opcode);
        w.str(f.module);
        w.str(f.name);
        w.u8(f.violation ? 1 : 0);
    }
    w.u32(static_cast<std::uint32_t>(r.globals.size()));
    for (const global_report& g : r.globals) {
        w.str(g.module);
        w.str(g.name);
        w.str(g.raw_module);
        w.str(g.raw_name);
        w.str(g.member);
        w.u8(g.allowed ? 1 : 0);
        w.u8(g.uses);
        w.u64(g.offset);
        w.str(g.opcode);
        w.u8(g.protocol);
    }
    w.str(o.text);
    return w.take();
}

std::optional<scan_outcome> deserialize(std::string_view wire) {
    reader in(wire);
    scan_outcome o;
    file_report& r = o.report;
    if (in.flag()) o.skip_reason = in.str();
    r.path = in.str();
    r.format = in.str();
    r.verdict = in.enumerator<verdict>(kLastVerdict);
    r.bytes = in.u64();
    r.pickles = in.u64();
    std::uint32_t nf = in.count(kMinFinding);
    r.findings.reserve(nf);
    for (std::uint32_t i = 0; i < nf && in.ok(); ++i) {
        finding f;
        f.rule = in.str();
        f.severity = in.enumerator<severity>(kLastSeverity);
        f.message = in.str();
        f.member = in.str();
        if (in.flag()) f.offset = in.u64();
        f.opcode = in.str();
        f.module = in.str();
        f.name = in.str();
        f.violation = in.flag();
        r.findings.push_back(std::move(f));
    }
    std::uint32_t ng = in.count(kMinGlobal);
    r.globals.reserve(ng);
    for (std::uint32_t i = 0; i < ng && in.ok(); ++i) {
        global_report g;
        g.module = in.str();
        g.name = in.str();
        g.raw_module = in.str();
        g.raw_name = in.str();
        g.member = in.str();
        g.allowed = in.flag();
        g.uses = in.u8();
        g.offset = in.u64();
        g.opcode = in.str();
        g.protocol = in.u8();
        r.globals.push_back(std::move(g));
    }
    o.text = in.str();
    if (!in.ok() || !in.at_end()) return std::nullopt;
    return o;
}

}  // namespace pickleguard::sandbox
