// pickleguard/input.hpp — bytes to decode, without copying them.
//
// `map_file` memory-maps a file read-only, so a 2 GB checkpoint costs
// address space, not memory, and every str/bytes in the value graph can be a
// view into it. The mapping must outlive any decoding made from it.
//
//     auto file = pickleguard::map_file("model.pkl");
//     if (!file) return fail(file.error());
//     pickleguard::decoding d = pickleguard::decode(file.value().bytes());
#pragma once

#include "pickleguard/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pickleguard {

class mapped_file {
public:
    mapped_file() = default;
    mapped_file(mapped_file&&) noexcept;
    mapped_file& operator=(mapped_file&&) noexcept;
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file();

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

private:
    friend result<mapped_file> map_file(const std::string& path);
    friend result<mapped_file> map_regular_file(const std::string& path, bool no_follow);
    friend result<mapped_file> read_stream(int fd, const std::string& name, std::uint64_t max_bytes);
    static result<mapped_file> map(const std::string& path, bool regular_only, bool no_follow);  // map_file, map_regular_file
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    std::vector<std::byte> owned_;  // for inputs that cannot be mapped (pipes)
    std::string path_;
};

// Maps a regular file (reads one of small_file_bytes or less); reads a pipe
// or FIFO ("/dev/stdin", `<(cmd)`) into memory. Refuses devices, sockets and
// directories. Never blocks in open(): a FIFO without a writer reads as empty.
result<mapped_file> map_file(const std::string& path);

// The same for a regular file only: what `scan` reads. A FIFO could block
// or never end, a device be endless (/dev/zero), so anything else is an
// error that says what the file is (special_file_kind). With `no_follow`
// the path is opened with O_NOFOLLOW: a symbolic link there is an error
// (errno ELOOP in the reason), what `scan` does with a file its directory
// walk found (scan_job::no_follow, pickleguard/sandbox.hpp).
result<mapped_file> map_regular_file(const std::string& path, bool no_follow = false);

// What a file of this st_mode is when it is not a regular file: "a
// directory", "a FIFO (named pipe)", "a character device", "a block device",
// "a socket", "a symbolic link", "not a regular file"; nullptr for a regular
// file.
const char* special_file_kind(unsigned mode) noexcept;

// Why a file opened with O_NOFOLLOW (map_regular_file's no_follow) that
// open(2) refused with ELOOP, a symbolic link in its place, was not read.
const char* swapped_link_reason() noexcept;

// Regular files up to this size are read rather than mapped: mapping and
// unmapping each one costs more when a directory holds thousands.
inline constexpr std::size_t small_file_bytes = std::size_t{64} << 10;

// Reads the first `size` bytes of the regular file `fd` into `out`, resized
// to what was there (fewer if the file shrank meanwhile: what a loader would
// read). Returns 0, or the errno of the read that failed.
int read_file_start(int fd, std::size_t size, std::vector<std::byte>& out);

// Reads a whole stream (e.g. standard input, fd 0) into memory. A stream
// longer than `max_bytes` is an error of kind `limit` (never a truncated
// read that would be judged as if it were the whole input): a pipe cannot be
// mapped, so its size is memory, and `scan -` bounds it by max_input_bytes
// as a regular file's decoding is bounded.
result<mapped_file> read_stream(int fd, const std::string& name,
                                std::uint64_t max_bytes = ~std::uint64_t{0});

}  // namespace pickleguard
