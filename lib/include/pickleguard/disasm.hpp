// pickleguard/disasm.hpp — a disassembly of what the decoder executed.
//
// Like `python -m pickletools`, but driven by the decoder itself, so it shows
// what CPython's loader does rather than what a separate parser guesses: the
// offset, opcode and argument of every executed opcode, the protocol in
// force, memo slots, globals as find_class resolves them, and where decoding
// stopped and why.
//
//     pickleguard::decoding d = pickleguard::disassemble(bytes, {}, 0,
//         [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stdout); });
#pragma once

#include "pickleguard/decode.hpp"

#include <functional>
#include <string_view>

namespace pickleguard {

decoding disassemble(std::span<const std::byte> input, const decode_options& options, std::size_t start,
                     const std::function<void(std::string_view)>& sink);

}  // namespace pickleguard
