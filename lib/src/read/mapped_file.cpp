#include "pickleguard/input.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pickleguard {
namespace {

error io_error(const std::string& path, const std::string& what) {
    error e;
    e.kind = error_kind::io;
    e.reason = path + ": " + what;
    return e;
}

}  // namespace

mapped_file::mapped_file(mapped_file&& o) noexcept { *this = std::move(o); }

mapped_file& mapped_file::operator=(mapped_file&& o) noexcept {
    if (this != &o) {
        if (mapped_ && data_) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = o.data_;
        size_ = o.size_;
        mapped_ = o.mapped_;
        owned_ = std::move(o.owned_);
        path_ = std::move(o.path_);
        if (!mapped_) data_ = owned_.data();
        o.data_ = nullptr;
        o.size_ = 0;
        o.mapped_ = false;
    }
    return *this;
}

mapped_file::~mapped_file() {
    if (mapped_ && data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

result<mapped_file> read_stream(int fd, const std::string& name, std::uint64_t max_bytes) {
    mapped_file f;
    f.path_ = name;
    std::byte buf[1 << 16];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error(name, std::strerror(errno));
        }
        if (n == 0) break;
        if (static_cast<std::uint64_t>(n) > max_bytes - f.owned_.size()) {
            // One byte past the bound is enough to know: the rest is not read.
            error e;
            e.kind = error_kind::limit;
            e.reason = name + ": the stream is longer than max_input_bytes (" + std::to_string(max_bytes) +
                       " bytes), so it was not judged; raise the limit (--limit max_input_bytes=N) or scan a file";
            return e;
        }
        f.owned_.insert(f.owned_.end(), buf, buf + n);
    }
    f.data_ = f.owned_.data();
    f.size_ = f.owned_.size();
    return f;
}

int read_file_start(int fd, std::size_t size, std::vector<std::byte>& out) {
    out.resize(size);
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return 0;
}

const char* special_file_kind(unsigned mode) noexcept {
    if (S_ISREG(mode)) return nullptr;
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a regular file";
}

const char* swapped_link_reason() noexcept {
    return "is a symbolic link, and was a regular file when its directory was walked (replaced since?): a file "
           "found by walking is opened without following links, so it was not read (--follow-symlinks follows "
           "links the walk finds)";
}

// Opens without blocking: open(2) of a FIFO waits for a writer, and
// O_NONBLOCK is the one way not to (it changes nothing for regular files).
// O_NOCTTY: a terminal device never becomes our controlling terminal.
result<mapped_file> mapped_file::map(const std::string& path, bool regular_only, bool no_follow) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (no_follow ? O_NOFOLLOW : 0));
    if (fd < 0) return io_error(path, no_follow && errno == ELOOP ? swapped_link_reason() : std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return io_error(path, std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        // A pipe is a stream some commands read on purpose (decode <(cmd));
        // read it blocking from here, now that open() is done.
        if (S_ISFIFO(st.st_mode) && !regular_only) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            auto r = read_stream(fd, path);
            ::close(fd);
            return r;
        }
        ::close(fd);
        return io_error(path, std::string("is ") + special_file_kind(st.st_mode) + ", not a regular file");
    }
    mapped_file f;
    f.path_ = path;
    if (st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) <= small_file_bytes) {
        int err = read_file_start(fd, static_cast<std::size_t>(st.st_size), f.owned_);
        ::close(fd);
        if (err) return io_error(path, std::strerror(err));
        f.data_ = f.owned_.data();
        f.size_ = f.owned_.size();
        return f;
    }
    if (st.st_size > 0) {
        void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            ::close(fd);
            return io_error(path, std::string("cannot map: ") + std::strerror(err));
        }
        f.data_ = static_cast<const std::byte*>(p);
        f.size_ = static_cast<std::size_t>(st.st_size);
        f.mapped_ = true;
    }
    ::close(fd);
    return f;
}

result<mapped_file> map_file(const std::string& path) { return mapped_file::map(path, false, false); }

result<mapped_file> map_regular_file(const std::string& path, bool no_follow) {
    return mapped_file::map(path, true, no_follow);
}

}  // namespace pickleguard
