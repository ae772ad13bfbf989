// Test helper: pickleguard's reading of .npy headers, one per input line, for
// the differential test against numpy.lib.format (header_differential.py).
//
// Each stdin line is the hex of the start of an .npy file (magic, version,
// length, header). Each stdout line is either
//   ok <has_object 0|1> <itemsize> <fortran_order 0|1> <data_at> <dim,dim,...>
// or
//   err <malformed|unsupported|...> <reason>
#include "read/npy_header.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main() {
    std::ios::sync_with_stdio(false);
    std::string line;
    std::vector<std::byte> bytes;
    while (std::getline(std::cin, line)) {
        bytes.clear();
        for (std::size_t i = 0; i + 1 < line.size(); i += 2)
            bytes.push_back(static_cast<std::byte>(std::stoi(line.substr(i, 2), nullptr, 16)));
        auto h = pickleguard::read::read_npy_header(bytes);
        if (!h) {
            std::string reason = h.error().reason;
            for (char& c : reason)
                if (c == '\n') c = ' ';
            std::cout << "err " << pickleguard::to_string(h.error().kind) << ' ' << reason << '\n';
            continue;
        }
        std::cout << "ok " << h.value().dtype.has_object << ' ' << h.value().dtype.itemsize << ' '
                  << h.value().fortran_order << ' ' << h.value().data_at << ' ';
        for (std::size_t i = 0; i < h.value().shape_text.size(); ++i)
            std::cout << (i ? "," : "") << h.value().shape_text[i];
        std::cout << '\n';
    }
    return 0;
}
