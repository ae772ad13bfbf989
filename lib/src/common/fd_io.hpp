// Internal: writing a whole buffer to a descriptor, shared by the converter
// (safetensors output files) and the worker pool (its Unix sockets, on both
// sides of the jail).
#pragma once

#include <cstddef>

namespace pickleguard::fd_io {

// How the bytes go out. A socket is written with send(MSG_NOSIGNAL), so a
// peer that went away is an error (EPIPE) rather than a SIGPIPE that kills
// the process; anything else (a file) with write(2), since send fails on a
// descriptor that is not a socket. The two are distinct system calls, and
// the worker's seccomp allow-list is written for the one it makes.
enum class target { file, socket };

// Writes all `n` bytes, going on after short writes and EINTR. False on any
// other error (errno says which).
bool write_all(int fd, const void* data, std::size_t n, target to);

}  // namespace pickleguard::fd_io
