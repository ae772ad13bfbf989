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

result<mapped_file> read_stream(int fd, const std::string& name) {
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

result<mapped_file> map_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error(path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return io_error(path, std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return io_error(path, "is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
        auto r = read_stream(fd, path);
        ::close(fd);
        return r;
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

}  // namespace pickleguard
