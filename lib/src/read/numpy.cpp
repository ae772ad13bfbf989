// numpy .npy files (and the members of an .npz, which scan_zip hands here).
//
// Layout as numpy/lib/format.py writes it: "\x93NUMPY", major, minor, the
// header length (2 bytes in version 1, 4 in versions 2 and 3), then a Python
// dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}. numpy
// reads it with ast.literal_eval and builds the dtype with descr_to_dtype; we
// do the same without Python (py_literal.cpp, numpy_dtype.cpp). A dtype that
// holds objects anywhere ('O', 'f8,O', '(2,)O', a structure with an object
// field) means pickle.load follows the header; otherwise exactly
// prod(shape) * itemsize raw bytes do. A header we cannot read is never
// trusted: it is a finding, and a pickle after it is judged as numpy would
// unpickle it.
#include "common/utf8.hpp"
#include "read/container_scan.hpp"
#include "read/npy_header.hpp"

#include <algorithm>
#include <limits>
#include "pickleguard/rules.hpp"

namespace pickleguard::read {
namespace {

error header_error(error_kind k, std::uint64_t offset, std::string why) {
    return error{k, offset, error::no_opcode, std::move(why)};
}

}  // namespace

result<npy_header> read_npy_header(std::span<const std::byte> b) {
    auto bad = [](std::string why, std::uint64_t at = error::no_offset) {
        return header_error(error_kind::malformed, at, std::move(why));
    };
    if (b.size() < 8 || text_of(b.subspan(0, 6)) != "\x93NUMPY") return bad("the magic string is not correct");
    npy_header h;
    h.major = static_cast<unsigned>(b[6]);
    h.minor = static_cast<unsigned>(b[7]);
    // _check_version: only (1, 0), (2, 0) and (3, 0).
    if (h.minor != 0 || h.major < 1 || h.major > 3)
        return bad("unsupported format version " + std::to_string(h.major) + "." + std::to_string(h.minor), 6);
    std::size_t len_size = h.major == 1 ? 2 : 4;
    if (b.size() < 8 + len_size) return bad("ran out of data reading the array header length", 8);
    std::size_t header_len = 0;
    for (std::size_t k = len_size; k-- > 0;) header_len = header_len << 8 | static_cast<std::size_t>(b[8 + k]);
    std::size_t header_at = 8 + len_size;
    if (header_len > b.size() - header_at) return bad("the array header runs past the end", header_at);
    h.data_at = header_at + header_len;
    std::string_view raw = text_of(b.subspan(header_at, header_len));
    // header.decode('latin1') for versions 1 and 2, 'utf8' for 3.
    std::u32string text;
    text.reserve(raw.size());
    if (h.major < 3) {
        for (char c : raw) text.push_back(static_cast<unsigned char>(c));
    } else {
        std::string why = text::check_utf8(raw, false);
        if (!why.empty()) return bad("the header is not UTF-8: " + why, header_at);
        for (std::size_t i = 0; i < raw.size();) text.push_back(text::next_code_point(raw, i));
    }
    auto lit = parse_py_literal(text, h.major < 3);
    if (!lit) {
        error e = lit.error();
        e.reason = "header: " + e.reason + " (at character " + std::to_string(e.offset) + ")";
        e.offset = header_at;
        return e;
    }
    const py_tree& t = lit.value();
    const py_node& dict = t.at(t.root);
    if (dict.k != py_node::kind::dict) return bad("the header is not a dictionary", header_at);
    // EXPECTED_KEYS == d.keys(): exactly these three; a repeated key keeps its last value.
    std::optional<std::uint32_t> descr, shape, fortran;
    for (std::uint32_t i = 0; i + 1 < dict.count; i += 2) {
        const py_node& key = t.at(t.child(dict, i));
        std::uint32_t value = t.child(dict, i + 1);
        if (key.k != py_node::kind::str) return bad("the header does not contain the correct keys", header_at);
        if (key.text == "descr") descr = value;
        else if (key.text == "shape") shape = value;
        else if (key.text == "fortran_order") fortran = value;
        else return bad("the header does not contain the correct keys ('" + key.text + "')", header_at);
    }
    if (!descr || !shape || !fortran) return bad("the header does not contain the correct keys", header_at);
    const py_node& dims = t.at(*shape);
    if (dims.k != py_node::kind::tuple) return bad("shape is not valid", header_at);
    for (std::uint32_t i = 0; i < dims.count; ++i) {
        const py_node& d = t.at(t.child(dims, i));
        // _read_array_header only asks for ints; read_array's multiply.reduce(shape, dtype=int64) then raises
        // for one beyond int64, before it looks at the dtype.
        if (d.k == py_node::kind::big_integer) {
            h.shape_fits = false;
            h.shape.push_back(std::numeric_limits<std::int64_t>::max());
            h.shape_text.push_back(d.text);
            continue;
        }
        if (d.k != py_node::kind::integer && d.k != py_node::kind::boolean) return bad("shape is not valid", header_at);
        h.shape.push_back(d.number);
        h.shape_text.push_back(std::to_string(d.number));
    }
    const py_node& fo = t.at(*fortran);
    if (fo.k != py_node::kind::boolean) return bad("fortran_order is not a valid bool", header_at);
    h.fortran_order = fo.number != 0;
    auto dtype = descr_to_dtype(t, *descr);
    if (!dtype) {
        error e = dtype.error();
        e.reason = "descr: " + e.reason;
        e.offset = header_at;
        return e;
    }
    h.dtype = dtype.value();
    if (const py_node& d = t.at(*descr); d.k == py_node::kind::str) h.descr = d.text;
    return h;
}

void read_npy(read_context& ctx, bytes_view b, const location& member) {
    auto header = read_npy_header(b);
    if (!header) {
        const error& e = header.error();
        std::size_t after = 0;
        // Where the data would start, if the length fields can be read at all.
        if (b.size() >= 10 && (b[6] == std::byte{1})) after = 10 + (static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8);
        else if (b.size() >= 12 && (b[6] == std::byte{2} || b[6] == std::byte{3}))
            after = 12 + (static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8 |
                          static_cast<std::size_t>(b[10]) << 16 | static_cast<std::size_t>(b[11]) << 24);
        if (e.kind == error_kind::unsupported) {
            ctx.add(rule::npy_header_unreadable, severity::high,
                    "the .npy header holds something pickleguard does not follow (" + e.reason +
                        "); numpy.load may accept it and, if its dtype holds objects, unpickle what follows",
                    member, e.offset == error::no_offset ? std::nullopt : std::optional<std::uint64_t>(e.offset));
        } else {
            ctx.add(rule::container_corrupt, severity::high,
                    "not a valid .npy file (" + e.reason + "); numpy.load would refuse it", member,
                    e.offset == error::no_offset ? std::nullopt : std::optional<std::uint64_t>(e.offset));
        }
        // Fail closed: a pickle after a header we could not read is judged as
        // numpy would unpickle it.
        if (after > 0 && after < b.size() && starts_like_pickle(b.subspan(after)))
            ctx.host.pickle(b.subspan(after), member.member("after an unreadable header"));
        return;
    }
    auto corrupt = [&](const std::string& why) {
        ctx.add(rule::container_corrupt, severity::high, "not a valid .npy file (" + why + "); numpy.load would refuse it",
                member);
    };
    const npy_header& h = header.value();
    if (!h.shape_fits)
        return corrupt("a dimension of the shape does not fit in int64; numpy.load raises before reading the data");
    const std::size_t data_at = h.data_at;
    bytes_view data = b.subspan(data_at);
    if (h.dtype.has_object) {
        // numpy.load(allow_pickle=True): pickle.load on the rest of the file.
        ctx.host.pickle(data, member.member("object array"));
        return;
    }
    // read_array: count = multiply.reduce(shape) (1 for ()), count * itemsize bytes.
    std::uint64_t count = 1;
    for (std::int64_t n : h.shape) {
        if (n < 0) return corrupt("a dimension of the shape is negative");
        if (n && count > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(n))
            return corrupt("shape overflows");
        count *= static_cast<std::uint64_t>(n);
    }
    std::uint64_t itemsize = h.dtype.itemsize;
    if (itemsize && count > std::numeric_limits<std::uint64_t>::max() / itemsize)
        return corrupt("array size overflows");
    std::uint64_t expected = count * itemsize;
    if (data.size() < expected) {
        ctx.add(rule::npy_size_mismatch, severity::high,
                "the header describes " + std::to_string(expected) + " bytes of array data but only " +
                    std::to_string(data.size()) + " follow; numpy.load would fail",
                member, data_at);
    } else if (data.size() > expected) {
        ctx.add(rule::npy_size_mismatch, severity::medium,
                std::to_string(data.size() - expected) + " bytes follow the array data that numpy.load never reads; "
                "bytes no loader accounts for are where payloads hide. A pickle there is scanned too",
                member, data_at + expected);
        bytes_view extra = data.subspan(static_cast<std::size_t>(expected));
        if (starts_like_pickle(extra))
            ctx.host.pickle(extra, member.member("after the array"));
    }
}

}  // namespace pickleguard::read
