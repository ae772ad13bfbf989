// Internal: the shipped policies and knowledge base, compiled in.
#pragma once

#include <span>
#include <string_view>

namespace pickleguard {

struct embedded_file {
    std::string_view name;
    std::string_view text;
};

std::span<const embedded_file> embedded_policies();
std::string_view embedded_knowledge_base();

}  // namespace pickleguard
