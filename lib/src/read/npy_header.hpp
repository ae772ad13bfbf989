// Internal: an .npy header, read as numpy.lib.format reads it.
//
// read_magic and _check_version (versions 1.0, 2.0, 3.0 only), the header
// length (2 bytes, or 4 from version 2.0), the header text (latin1, UTF-8 from
// version 3.0), _filter_header's Python 2 'L' suffixes (before 3.0),
// safe_eval, the key and value checks of _read_array_header, and
// descr_to_dtype — in that order, as numpy does them. An error of kind
// `malformed` is a header numpy.load refuses too; `unsupported` is one we do
// not follow (the caller must assume numpy may accept it and unpickle what
// follows).
//
//     auto h = pickleguard::read::read_npy_header(bytes);
//     if (h && !h->dtype.has_object) { /* raw data at h->data_at */ }
#pragma once

#include "read/numpy_dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pickleguard::read {

struct npy_header {
    unsigned major = 0, minor = 0;
    std::size_t data_at = 0;          // where the array data (or the pickle) starts
    dtype_info dtype;                 // descr_to_dtype(d['descr'])
    std::string descr;                // d['descr'] when it is a str ('<f4'), else empty (a converter's byte order)
    std::vector<std::int64_t> shape;  // d['shape'] (True counts as 1, as in Python)
    std::vector<std::string> shape_text;  // the same, as decimal text (dimensions beyond int64 too)
    bool shape_fits = true;  // false: a dimension beyond int64, read_array's multiply.reduce raises
    bool fortran_order = false;
};

result<npy_header> read_npy_header(std::span<const std::byte> file);

}  // namespace pickleguard::read
