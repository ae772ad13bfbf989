// Binary form of a scan_outcome: every integer is little-endian of fixed
// width, every string a u32 length then its bytes, every list a u32 count
// then its items, an optional a u8 flag then its value, a location a u32
// count then its steps (kind u8, name, index u64, offset u64; a field the
// kind does not use must be empty or zero). Strings are bytes,
// as in a report made in-process (member names come from the file); the
// report writers make them valid UTF-8. It is private to one
// build of pickleguard (parent and workers are the same executable, forked),
// so it carries no version and is never stored.
//
// The report's fields are listed once, in pickleguard/report_schema.hpp (the
// JSON writer walks the same tables), in the order of the JSON report:
// writing, reading and the smallest size of a list item are all derived from
// them, so the two directions cannot disagree.
#include "wire.hpp"

#include "pickleguard/report_schema.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace pickleguard::sandbox {
namespace {

// The report's structs are written and read by walking their tables in
// pickleguard/report_schema.hpp (which fails to compile when a struct has a
// member without a row); scan_outcome, which only the wire carries, is
// listed in outcome_fields below, and counted here.
static_assert(schema::aggregate_member_count<scan_outcome>() == 3, "scan_outcome changed: update outcome_fields");

// ---- the field lists, in wire order ------------------------------------------------

// One member, by the kind its row gives it. Numbers keep their width.
template <schema::kind K, class Io, class Member>
void member(Io& io, Member& m) {
    using schema::kind;
    using M = std::remove_const_t<Member>;
    if constexpr (K == kind::text || K == kind::text_or_null) io.str(m);
    else if constexpr (K == kind::number && sizeof(M) == 1) io.u8(m);
    else if constexpr (K == kind::number) io.u64(m);
    else if constexpr (K == kind::optional_number) io.optional_u64(m);
    else if constexpr (K == kind::flag) io.flag(m);
    else if constexpr (K == kind::uses) io.u8(m);
    else if constexpr (K == kind::enumeration) io.enumerator(m, static_cast<std::uint8_t>(schema::last_value(M{})));
    else if constexpr (K == kind::location) io.list(m.steps);
    else {
        static_assert(K == kind::list);
        io.list(m);
    }
}

// A location's step. The fields a kind does not use are carried too, so a
// record has one spelling; the reader refuses any other (step_check).
template <class Io, class Step>
    requires std::is_same_v<std::remove_const_t<Step>, location_step>
void fields(Io& io, Step& s) {
    const std::size_t at = io.pos();
    io.enumerator(s.kind, static_cast<std::uint8_t>(schema::last_value(step_kind{})));
    io.str(s.name);
    io.u64(s.index);
    io.u64(s.offset);
    io.step_check(s, at);
}

// A list item that is a string (a file's readings): just the string.
template <class Io, class Str>
    requires std::is_same_v<std::remove_const_t<Str>, std::string>
void fields(Io& io, Str& s) {
    io.str(s);
}

// A report struct: its table's rows, in order.
template <class Io, class Struct>
    requires(!std::is_same_v<std::remove_const_t<Struct>, std::string> &&
             !std::is_same_v<std::remove_const_t<Struct>, location_step>)
void fields(Io& io, Struct& s) {
    schema::for_each_field<std::remove_const_t<Struct>>([&](const auto& row) {
        member<std::decay_t<decltype(row)>::kind_value>(io, s.*row.member);
    });
}

template <class Io, class Outcome>
void outcome_fields(Io& io, Outcome& o) {
    io.optional_str(o.skip_reason);
    fields(io, o.report);
    io.str(o.text);
}

// ---- the three walks over a field list ------------------------------------------

class writer {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void flag(bool v) { u8(v ? 1 : 0); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    template <class E>
    void enumerator(E v, std::uint8_t) {
        u8(static_cast<std::uint8_t>(v));
    }
    void optional_u64(const std::optional<std::uint64_t>& v) {
        flag(v.has_value());
        if (v) u64(*v);
    }
    void optional_str(const std::optional<std::string>& v) {
        flag(v.has_value());
        if (v) str(*v);
    }
    template <class T>
    void list(const std::vector<T>& items) {
        u32(static_cast<std::uint32_t>(items.size()));
        for (const T& item : items) fields(*this, item);
    }
    std::size_t pos() const { return out_.size(); }
    void step_check(const location_step&, std::size_t) {}
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// The fewest bytes one item can take: what a count is checked against.
class min_size {
public:
    void u8(std::uint8_t) { n_ += 1; }
    void u64(std::uint64_t) { n_ += 8; }
    void flag(bool) { n_ += 1; }
    void str(const std::string&) { n_ += 4; }
    template <class E>
    void enumerator(E, std::uint8_t) {
        n_ += 1;
    }
    void optional_u64(const std::optional<std::uint64_t>&) { n_ += 1; }
    void optional_str(const std::optional<std::string>&) { n_ += 1; }
    template <class T>
    void list(const std::vector<T>&) {
        n_ += 4;
    }
    std::size_t pos() const { return n_; }
    void step_check(const location_step&, std::size_t) {}
    std::size_t bytes() const { return n_; }

    template <class T>
    static std::size_t of() {
        static const std::size_t n = [] {
            min_size m;
            const T item{};
            fields(m, item);
            return m.n_;
        }();
        return n;
    }

private:
    std::size_t n_ = 0;
};

// Reads into the fields; the first fault (a read past the end, a length or
// count longer than what is left, a flag or enumerator out of range) is kept
// with its offset, and every read after it does nothing.
class reader {
public:
    explicit reader(std::string_view in) : in_(in) {}
    bool ok() const { return !failed_; }
    bool at_end() const { return pos_ == in_.size(); }
    std::size_t pos() const { return pos_; }
    const std::string& why() const { return why_; }
    std::size_t fault_offset() const { return fault_at_; }

    void u8(std::uint8_t& v) { v = byte(); }
    void u64(std::uint64_t& v) { v = little<std::uint64_t>(); }
    void flag(bool& v) {
        std::size_t at = pos_;
        std::uint8_t b = byte();
        if (b > 1) fail(at, "a flag byte is " + std::to_string(b) + ", not 0 or 1");
        v = b == 1;
    }
    void str(std::string& s) {
        std::size_t at = pos_;
        std::uint32_t n = little<std::uint32_t>();
        if (!need(n, at, "a string's length runs past the end of the record")) return;
        s.assign(in_.substr(pos_, n));
        pos_ += n;
    }
    template <class E>
    void enumerator(E& v, std::uint8_t last) {
        std::size_t at = pos_;
        std::uint8_t b = byte();
        if (b > last) fail(at, "an enumerator is " + std::to_string(b) + ", past the last value " + std::to_string(last));
        v = ok() ? static_cast<E>(b) : E{};
    }
    void optional_u64(std::optional<std::uint64_t>& v) {
        bool present = false;
        flag(present);
        if (present) u64(v.emplace());
    }
    void optional_str(std::optional<std::string>& v) {
        bool present = false;
        flag(present);
        if (present) str(v.emplace());
    }
    // A step whose kind does not use a field must leave it empty or zero; a
    // pickle after STOP is the second or later (the first is the stream
    // itself, no step); a nested loader's argument names its callable.
    void step_check(const location_step& s, std::size_t at) {
        if (!ok()) return;
        switch (s.kind) {
            case step_kind::member:
            case step_kind::part:
                if (s.index != 0 || s.offset != 0) fail(at, "a member or part step has an index or an offset");
                break;
            case step_kind::pickle:
                if (!s.name.empty()) fail(at, "a pickle step has a name");
                else if (s.index < 2) fail(at, "a pickle step numbers pickle " + std::to_string(s.index) + ", not 2 or later");
                break;
            case step_kind::argument:
                if (s.name.empty()) fail(at, "an argument step names no callable");
                break;
        }
    }
    // A count of items checked against what is left, each item being at
    // least min_size bytes, so a lying count cannot make us reserve gigabytes.
    template <class T>
    void list(std::vector<T>& items) {
        std::size_t at = pos_;
        std::uint32_t n = little<std::uint32_t>();
        if (ok() && n > (in_.size() - pos_) / min_size::of<T>())
            fail(at, "a count of " + std::to_string(n) + " items cannot fit in what is left of the record");
        if (!ok()) return;
        items.reserve(n);
        for (std::uint32_t i = 0; i < n && ok(); ++i) fields(*this, items.emplace_back());
    }
    void fail(std::size_t at, std::string why) {
        if (failed_) return;
        failed_ = true;
        fault_at_ = at;
        why_ = std::move(why);
    }

private:
    bool need(std::size_t n, std::size_t at, const char* why) {
        if (failed_) return false;
        if (in_.size() - pos_ < n) {
            fail(at, why);
            return false;
        }
        return true;
    }
    std::uint8_t byte() {
        if (!need(1, pos_, "the record ends inside a field")) return 0;
        return static_cast<std::uint8_t>(in_[pos_++]);
    }
    template <class U>
    U little() {
        if (!need(sizeof(U), pos_, "the record ends inside a field")) return 0;
        U v = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) v |= U{static_cast<std::uint8_t>(in_[pos_++])} << (8 * i);
        return v;
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    bool failed_ = false;
    std::size_t fault_at_ = 0;
    std::string why_;
};

}  // namespace

std::string serialize(const scan_outcome& o) {
    writer w;
    outcome_fields(w, o);
    return w.take();
}

result<scan_outcome> deserialize(std::string_view wire) {
    reader in(wire);
    scan_outcome o;
    outcome_fields(in, o);
    if (in.ok() && !in.at_end())
        in.fail(in.pos(), std::to_string(wire.size() - in.pos()) + " bytes follow the end of the record");
    // Well-formed is not enough: a verdict is what the findings settle
    // (file_report::settle), and a record saying safe beside a violation
    // (a flipped byte, a worker's bug) would be a report that counts an
    // unsafe file as safe. The other way round fails closed and is kept.
    if (in.ok() && !o.skip_reason && o.report.verdict == verdict::safe &&
        std::any_of(o.report.findings.begin(), o.report.findings.end(), [](const finding& f) { return f.violation; }))
        in.fail(0, "the verdict is safe, but a finding is a violation");
    if (!in.ok()) {
        error e;
        e.kind = error_kind::malformed;
        e.offset = in.fault_offset();
        e.reason = "malformed result from a scanner process: " + in.why();
        return e;
    }
    return o;
}

}  // namespace pickleguard::sandbox

namespace pickleguard {

std::string serialize_outcome(const scan_outcome& outcome) { return sandbox::serialize(outcome); }

result<scan_outcome> deserialize_outcome(std::string_view record) { return sandbox::deserialize(record); }

}  // namespace pickleguard
