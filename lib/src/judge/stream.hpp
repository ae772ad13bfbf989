// Internal: the judge, for readers that need the decoded stream too.
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/scan.hpp"

#include <functional>

namespace pickleguard {

// scan_pickle_stream, handing the decoding of the first stream to
// `first_stream` once it is judged: a reader that needs the decoded values
// (PyTorch's storage records) then does not decode the stream a second time.
void scan_pickle_stream(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                        const scan_options& options, const std::string& member, file_report& out,
                        const std::function<void(const decoding&)>& first_stream);

}  // namespace pickleguard
