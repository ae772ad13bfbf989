// Zip archives: PyTorch checkpoints, TorchScript archives, numpy .npz files
// and any other zip, after the reader's checks (zip_reader.hpp).
#include "read/zip_reader.hpp"

#include "pickleguard/opcodes.hpp"
#include "pickleguard/rules.hpp"

namespace pickleguard::read {
namespace {

// Entries up to this size are read whole to see what they are; larger ones
// only when their first bytes could start a pickle or are a container (tensor
// data rarely is). The window is the sniffing one, so a protocol 0 or 1
// pickle, which has no PROTO, is told by decoding it.
constexpr std::uint64_t kReadWhole = 1 << 20;
constexpr std::size_t kPeek = 64 * 1024;

// Could pickle.load, started on these leading bytes of a longer entry, do
// anything? A PROTO, or opcodes that decode up to the window's end or reach
// an operation. Only an entry CPython would refuse before doing anything
// (not an opcode, or an error inside the window) is left unread.
bool may_unpickle(bytes_view head) {
    if (head.empty()) return false;
    if (head[0] == std::byte{0x80}) return true;
    if (!find_opcode(static_cast<std::uint8_t>(head[0]))) return false;
    decoding d = decode(head);
    return d.complete() || !d.events.empty() || (d.failure && d.failure->kind == error_kind::truncated);
}

}  // namespace

void read_zip_entry(read_context& ctx, bytes_view file, const zip_entry& e, const location& member, int depth) {
    if (!e.name.empty() && e.name.back() == '/' && e.size == 0) return;  // a directory
    if (e.size > kReadWhole && (e.method == 0 || e.method == 8)) {
        auto head = peek_entry(file, e, kPeek);
        bytes_view h = view_of(head);
        if (!detect_container(h) && !may_unpickle(h)) {
            ctx.add(rule::member_not_scanned, severity::info,
                    "a " + std::to_string(e.size) + "-byte entry that starts like no pickle or container; not read",
                    member, std::nullopt, false);
            ctx.not_scanned(member);
            return;
        }
    }
    auto data = read_entry(ctx, file, e, member);
    if (!data) return;
    ctx.host.member(data->view, member, depth + 1);
}

void read_zip(read_context& ctx, bytes_view file, const location& member, int depth) {
    const std::uint64_t room = ctx.options.containers.max_entries > ctx.entries
                                   ? ctx.options.containers.max_entries - ctx.entries
                                   : 0;
    auto parsed = parse_zip(file, room);
    if (!parsed) {
        ctx.add(rule::container_corrupt, severity::high,
                "the zip archive cannot be read (" + parsed.error().reason +
                    "); its entries were not checked, and loaders would disagree about it",
                member, parsed.error().offset == error::no_offset ? std::nullopt
                                                                  : std::optional<std::uint64_t>(parsed.error().offset));
        return;
    }
    const zip_archive& z = parsed.value();
    for (const zip_issue& i : z.issues)
        ctx.add(i.rule, i.sev, i.message, i.entry.empty() ? member : member.member(i.entry), std::nullopt, i.violation);
    ctx.entries += z.entries.size();
    container_tally outer = ctx.begin_container();
    // Bytes before the archive are what a loader reading from the front sees
    // (pickle.load, torch.load's legacy path): scan them as a file of their own.
    if (z.start > 0) {
        bytes_view front = file.first(static_cast<std::size_t>(z.start));
        location name = member.member("bytes before the archive");
        if (!detect(front))
            ctx.add(rule::member_not_scanned, severity::info, "the leading bytes are no pickle or known container", name,
                    std::nullopt, false);
        else
            ctx.host.member(front, name, depth + 1);
    }
    format f = format::zip;
    if (!z.entries.empty()) {
        const auto& readings = ctx.readings_once(file.subspan(static_cast<std::size_t>(z.start)));
        if (!readings.empty()) f = readings.front();
    }
    if (f == format::pytorch_zip || f == format::torchscript) {
        read_torch_zip(ctx, file, z, member, depth, f == format::torchscript);
    } else {
        for (const zip_entry& e : z.entries) read_zip_entry(ctx, file, e, member.member(e.name), depth);
    }
    ctx.end_container(std::move(outer), member, std::string(to_string(f)) + " archive");
}

}  // namespace pickleguard::read
