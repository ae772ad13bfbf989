#include "fd_io.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace pickleguard::fd_io {

bool write_all(int fd, const void* data, std::size_t n, target to) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = to == target::socket ? ::send(fd, p, n, MSG_NOSIGNAL) : ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

}  // namespace pickleguard::fd_io
