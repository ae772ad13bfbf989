// Internal: the catalogue of finding rules is public (pickleguard/rules.hpp),
// since the report stage renders it too; this header stays for the judge's
// own sources.
#pragma once

#include "pickleguard/rules.hpp"
