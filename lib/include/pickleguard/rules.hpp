// pickleguard/rules.hpp — the catalogue of finding rules.
//
// Every finding's `rule` is one of these identifiers; they are stable, since
// tools and people filter on them. The catalogue gives each a title and help
// text: SARIF's rule metadata, `pickleguard explain` and docs/rules.md
// (written by tests/unit/rules_test.cpp) come from it. Code names a rule by
// its constant, never by a string literal (scripts/check_rule_ids.py keeps it
// so), so an identifier cannot be misspelt or left out of the catalogue.
//
//     f.rule = pickleguard::rule::global_not_allowed;
//     for (const pickleguard::rule_info& r : pickleguard::all_rules()) print(r.id, r.title);
//     if (const pickleguard::rule_info* r = pickleguard::find_rule(f.rule)) print(r->help);
//
// A new rule is one row of PICKLEGUARD_RULES: its constant's name is its
// identifier with '_' for '-' (rules.cpp checks that at compile time).
// Severity is not a column: the stage that finds a rule chooses it
// (container-corrupt is high, npy-size-mismatch high or medium, a global's
// follows the knowledge base).
#pragma once

#include <span>
#include <string_view>

// X(constant, identifier, title, help), in the order SARIF lists the rules.
// clang-format off
#define PICKLEGUARD_RULES(X) \
    X(global_not_allowed, "global-not-allowed", "Global outside the policy", \
      "The pickle loads a module attribute (class or function) that the policy does not list. Loading a pickle imports " \
      "it and lets the pickle call it, so anything outside the allow-list can run code. If you trust the code that " \
      "wrote the file, add an [[allow]] entry to a policy (pickleguard policy infer writes one).") \
    X(use_not_allowed, "use-not-allowed", "Global used beyond what the policy allows", \
      "The global is in the policy, but the pickle does more with it (calls it, instantiates it, or applies state to " \
      "objects made from it) than the entry's `uses` allow.") \
    X(state_not_allowed, "state-not-allowed", "BUILD state beyond what the policy allows", \
      "The class's entry constrains the state BUILD may apply to its instances, and this state breaks the " \
      "constraint: slot state (setattr, which runs the class's __setattr__ and property setters) or state the " \
      "judge cannot read under \"build-dict\", or a key of `empty_state_keys` holding a container that is not " \
      "empty or that the stream fills, or a key of `forbidden_state_keys` (on which the class's __setstate__ runs " \
      "code unsafe with a pickle's values) or state in which that cannot be told. If you trust the file, allow " \
      "\"build\" or drop the key.") \
    X(call_of_computed_value, "call-of-computed-value", "Call of a value computed while loading", \
      "REDUCE, OBJ or NEWOBJ call something that is not a named global: the result of another call, a persistent " \
      "object or an extension code. This is how getattr/attrgetter chains reach arbitrary methods. No policy can " \
      "allow it.") \
    X(argument_not_allowed, "argument-not-allowed", "Argument beyond what the policy allows", \
      "A call or instantiation the policy allows gets an integer argument larger than the entry's max_int_arg, a " \
      "str argument its str_arg_pattern does not match, or (when it has either) an argument computed while loading: " \
      "bytes(10**12) makes the loader allocate that many bytes, Fraction('1e999999999') compute a power of ten with a " \
      "billion digits. The shipped policies bound bytes and bytearray to 1 MiB and Fraction to the form its pickles " \
      "have ('-22/7').") \
    X(mutation_of_global, "mutation-of-global", "Global modified by the pickle", \
      "BUILD, SETITEM(S), APPEND(S) or ADDITEMS applied to a global (a module, class or function, os.environ, " \
      "sys.path...) change it for the whole process. No policy can allow it.") \
    X(mutation_of_computed_value, "mutation-of-computed-value", "Object of unknown class modified", \
      "BUILD or a container opcode is applied to an object whose class is not a named global.") \
    X(dunder_slot_state, "dunder-slot-state", "BUILD sets a dunder attribute", \
      "BUILD's slot state calls setattr for each key; '__class__' or '__dict__' there replace an object's class or " \
      "namespace. No policy can allow it.") \
    X(extension_code, "extension-code", "Extension registry code (EXT1/EXT2/EXT4)", \
      "EXT opcodes load whatever copyreg's extension registry maps the code to. A pickle can fill that registry " \
      "itself, and CPython's extension cache skips find_class. No policy can allow it.") \
    X(persistent_id_not_allowed, "persistent-id-not-allowed", "Persistent id the policy does not describe", \
      "The pickle asks the loader's persistent_load for an object. Only the shapes the policy declares (PyTorch " \
      "storages) are accepted.") \
    X(malformed_pickle, "malformed-pickle", "Pickle that cannot be fully decoded", \
      "CPython would raise partway through, after running everything before that point. A file that cannot be read " \
      "whole is never reported safe; findings before the error are reported.") \
    X(limit_exceeded, "limit-exceeded", "Resource limit reached", \
      "Decoding stopped at a configured limit, so the rest of the file is unchecked. Raise the limit in the policy's " \
      "[limits] if the file is trusted to be this large.") \
    X(fix_imports_remap, "fix-imports-remap", "Python 2 name renamed by fix_imports", \
      "Below protocol 3, CPython's find_class maps Python 2 names to Python 3 ones (e.g. __builtin__ to builtins). " \
      "The finding says what the name resolves to; the policy is checked against that.") \
    X(dotted_name, "dotted-name", "Dotted name walked attribute by attribute", \
      "From protocol 4, find_class resolves 'a.b' in a module by walking attributes, so a name can reach objects " \
      "the module imports (shutil + os.system). Dotted names must be listed in a policy themselves.") \
    X(attribute_of_global, "attribute-of-global", "Attribute fetched from a global with getattr", \
      "builtins.getattr(G, 'name'), where G is a named global and 'name' a constant identifier, returns what " \
      "find_class returns for G's module and the dotted name G.name: the result is judged as that dotted global, " \
      "which the policy must list (zoneinfo zones pickle ZoneInfo._unpickle this way). getattr itself then needs no " \
      "entry, unless the pickle also puts it anywhere an allowed callable could be handed it (a container, an " \
      "argument, state, the value returned). Any other getattr call stays a call of builtins.getattr, and calling " \
      "its result a call of a computed value.") \
    X(exact_partial, "exact-partial", "Call of a functools.partial judged as the call it makes", \
      "A functools.partial(F, *args) whose F is a named global, whose arguments were read from the stream, and which " \
      "nothing else can reach or change (never put in a container, an argument or state, never returned, at most one " \
      "BUILD with partial.__setstate__'s (func, args, kwds, dict) keeping the same F) makes, when called, the call " \
      "F(*args, *more, **kwds): it is judged as that call, so F's policy entry and bounds apply. Only under a policy " \
      "with an entry for functools.partial; any other partial is a call-of-computed-value.") \
    X(data_after_stop, "data-after-stop", "Bytes after the end of the pickle", \
      "pickle.load stops at STOP and ignores the rest, but readers that call it again run what follows. A pickle " \
      "there is scanned too.") \
    X(unreadable_file, "unreadable-file", "File could not be read", \
      "The file could not be opened or read, so it was not checked.") \
    X(unknown_format, "unknown-format", "Not a format pickleguard reads", \
      "The file is no pickle and no container pickleguard knows (PyTorch, numpy, joblib, zip, tar, 7z, gzip, bz2, xz, " \
      "lzma, zstd, lz4), so nothing was checked. The verdict is error, never safe.") \
    X(container_corrupt, "container-corrupt", "Container that cannot be read", \
      "An archive, compressed stream or file header is malformed, so what it holds was not checked, and loaders may " \
      "read it differently from each other.") \
    X(container_limit, "container-limit", "Container limit reached", \
      "More archive members, or containers nested deeper, than container_limits allows; the rest was not checked.") \
    X(decompression_bomb, "decompression-bomb", "Decompression bomb", \
      "A compressed stream expands past container_limits (total decompressed size or ratio). Decompression stopped " \
      "and the rest was not checked.") \
    X(member_not_scanned, "member-not-scanned", "Member that holds no pickle", \
      "An archive member that is neither a pickle nor a known container. Nothing loads it as a pickle, so it was " \
      "not scanned; listed for completeness.") \
    X(zip_data_before_archive, "zip-data-before-archive", "Bytes before the zip archive", \
      "Data precedes the archive: CPython's zipfile shifts offsets past it, PyTorch's reader (miniz) does not, and " \
      "pickle.load reads the front. Typical of pickle/zip polyglots. Both readings are scanned.") \
    X(zip_name_mismatch, "zip-name-mismatch", "Local and central zip names differ", \
      "The local header names an entry differently from the central directory: CPython refuses it, PyTorch reads " \
      "the central name, streaming readers the local one.") \
    X(zip_duplicate_name, "zip-duplicate-name", "Duplicate zip entry name", \
      "Two entries share a name; CPython opens the last, other readers another. Every copy is scanned.") \
    X(zip_encrypted, "zip-encrypted", "Encrypted zip entry", \
      "An entry is flagged encrypted: CPython asks for a password, PyTorch refuses it, readers that ignore the flag " \
      "read the stored bytes. Those bytes are decoded as if in clear, so a pickle stored in clear behind the flag is " \
      "judged; real ciphertext fails to decode.") \
    X(zip_crc_mismatch, "zip-crc-mismatch", "Zip CRC mismatch", \
      "An entry's CRC-32 does not match its content: CPython refuses it, PyTorch ignores CRCs. The file was changed " \
      "after it was written.") \
    X(zip_size_mismatch, "zip-size-mismatch", "Zip sizes that lie", \
      "Local and central headers disagree on sizes, CRC or method, an entry's data runs past where it may, or it " \
      "inflates to a different size than declared: readers would take different bytes.") \
    X(zip_overlapping_entries, "zip-overlapping-entries", "Zip entries sharing bytes", \
      "One entry's data overlaps another's: the overlapping-file zip bomb, or one name's data read as another's.") \
    X(zip_unsupported_compression, "zip-unsupported-compression", "Zip compression method PyTorch cannot read", \
      "Only stored (0) and deflate (8) are read by PyTorch and by pickleguard; the entry was not checked.") \
    X(zip_zip64, "zip-zip64", "Zip64 and classic end records disagree", \
      "The zip64 end record and the classic one describe different central directories, so readers with and " \
      "without zip64 support list different entries.") \
    X(torchscript_archive, "torchscript-archive", "TorchScript archive", \
      "The zip holds constants.pkl, so torch.load hands it to torch.jit.load, which runs the TorchScript code in " \
      "code/. Its pickles were scanned; the code was not. Load it with torch.jit.load only if you trust it.") \
    X(torch_storage_mismatch, "torch-storage-mismatch", "PyTorch storage that does not match its record", \
      "A persistent id ('storage', class, key, location, numel) names no record, or a record (or legacy storage) " \
      "whose size is not numel times the class's element size.") \
    X(trailing_data, "trailing-data", "Bytes after what the loader reads", \
      "Data follows the last byte the loader reads (after a legacy checkpoint's storages, or a member's records). " \
      "No loader accounts for it; a pickle there is scanned too.") \
    X(npy_size_mismatch, "npy-size-mismatch", "Array data that does not match the .npy header", \
      "The bytes after an .npy header are fewer (numpy.load fails) or more (never read) than shape times itemsize.") \
    X(joblib_array_unreadable, "joblib-array-unreadable", "joblib array whose size cannot be told", \
      "joblib.load reads raw array bytes after a NumpyArrayWrapper, but its shape or dtype is not one pickleguard can " \
      "size, so the stream after it cannot be followed as joblib does.") \
    X(npy_header_unreadable, "npy-header-unreadable", ".npy header pickleguard does not follow", \
      "The .npy header is a Python literal or dtype that pickleguard does not model (an escape, a dtype form or a size " \
      "numpy may accept); numpy.load may accept it and unpickle what follows, so it is never trusted.") \
    X(joblib_array_in_frame, "joblib-array-in-frame", "joblib array read from the middle of a frame", \
      "A NumpyArrayWrapper's BUILD ends inside a pickle frame. joblib's pure-Python unpickler has read the whole frame " \
      "already, so it reads the array bytes from the end of the frame, not after the BUILD, and unpickles the rest of " \
      "the frame afterwards: an order of bytes pickleguard does not follow.") \
    X(scanner_crashed, "scanner-crashed", "Scanner process failed", \
      "The sandboxed process reading this file crashed, made a forbidden system call or ran out of memory or CPU. " \
      "The file was not fully checked; the other files were. Please report it: it may be a bug in pickleguard.") \
    X(scan_timeout, "scan-timeout", "Scan timed out", \
      "Reading this file took longer than --timeout, so it was not fully checked.") \
    X(unreadable_directory, "unreadable-directory", "Directory that cannot be listed", \
      "A directory named on the command line or found in a walk could not be opened or read (no permission, or it " \
      "changed during the walk), so nothing in it was checked. The verdict is error: a walk never passes over a " \
      "directory it cannot see into.") \
    X(not_a_regular_file, "not-a-regular-file", "Not a regular file", \
      "The path named is a FIFO, a device or a socket. pickleguard reads only regular files: opening a FIFO waits " \
      "for a writer, and a FIFO or device may never end (/dev/zero). Ones found in a directory walk are listed as " \
      "skipped.") \
    X(polyglot, "polyglot", "File that is a container and a pickle at once", \
      "The bytes are valid under two readings, e.g. a tar (libarchive, tarfile) whose offset 0 also starts a pickle " \
      "that CPython acts on: pickle.load, numpy.load, joblib.load and pandas.read_pickle run the pickle, and " \
      "torch.load does when Python's tarfile refuses the archive. Every reading was judged; a file built to be read " \
      "two ways is not safe.") \
    X(member_not_read, "member-not-read", "Member a loader could unpickle, not read", \
      "Archive members that a loader could unpickle were not read (compression method pickleguard does not decode, " \
      "data out of bounds, a limit reached). They are named; their content was not checked, so the file is not " \
      "safe.") \
    X(members_skipped, "members-skipped", "Members no loader unpickles, not scanned", \
      "Members that were not scanned because no loader unpickles them: text, tensor records, torch's own metadata " \
      "records, TorchScript source, links. Named so that nothing is skipped silently.") \
    X(container_without_pickle, "container-without-pickle", "Container without a pickle", \
      "No pickle was found in this archive. Nothing in it is unpickled by the loaders pickleguard stands in for; " \
      "said so that an empty result is never silent.") \
    X(dunder_build_state, "dunder-build-state", "State that stores code the loader calls later", \
      "BUILD's dict state (or the state a callable such as torch's _rebuild_from_type_v2 applies with setattr) sets " \
      "an instance attribute named like the loader's own protocol: a dunder such as __setstate__ or __reduce_ex__, " \
      "or append, extend, add. load_build in _pickle.c looks __setstate__ up on the instance, and APPENDS/ADDITEMS " \
      "look up append/extend/add there on objects that are not plain lists and sets, so the next opcode calls what " \
      "was stored, with arguments the pickle chose and none of the policy's bounds: bytes(2**36) or " \
      "Fraction('1e999999999') through an allowed OrderedDict. No policy can allow it.") \
    X(call_cost_exceeded, "call-cost-exceeded", "Allowed call that would cost more than its bounds", \
      "A call the policy allows would consume more than the entry (or [limits]) permits: an iterable argument longer " \
      "than max_iter_len, a lazy value (range) that a constructor or __setstate__ expands beyond max_lazy_items " \
      "(set(range(10**12))), more lazy items over the whole pickle than max_lazy_items, or an integer of more than " \
      "max_int_bytes bytes handed to arithmetic (Fraction(a, b) runs a quadratic gcd), or calls, instantiations and " \
      "BUILDs whose entries' cost sums past max_call_cost over one load (10,000 re._compile calls of allowed " \
      "patterns compile for seconds). The finding names the call and the bound. See docs/policies.md, the cost of " \
      "allowed calls.") \
    X(unsafe_native_state, "unsafe-native-state", "BUILD state that native code would trust unchecked", \
      "BUILD hands a state to a __setstate__ written in C that reads it without checking it (the policy entry's " \
      "`state` names the checker): numpy 1.24's ndarray.__setstate__ copies an object array's items from a list it " \
      "assumes is as long as the shape (a shorter one is a segfault), and dtype.__setstate__ takes the dtype's " \
      "flags, item size and fields from the stream (an object dtype whose flags say it holds no objects turns the " \
      "array's bytes into object pointers). The state must be exactly what numpy writes: a tuple of the known " \
      "layout, a shape of non-negative integers, a dtype made by numpy.dtype(str, False, True) and its one BUILD, " \
      "and data of exactly shape x item size; whatever the judge cannot determine before loading is refused.") \
    X(hash_collisions, "hash-collisions", "Dict or set keys that collide in CPython's hash", \
      "The keys of the pickle's dicts and sets share CPython hash() values so often that building them costs more " \
      "comparisons than [limits] max_hash_collisions: 300,000 integers k * (2**61 - 1) all hash to 0, and inserting " \
      "them takes minutes. Only keys whose hash does not depend on PYTHONHASHSEED are counted (int, float, bool, " \
      "None, tuples and frozensets of them). No global is needed, so no allow-list can stop it; raise the limit only " \
      "for files you trust.")
// clang-format on

namespace pickleguard {

// The identifiers. Character arrays rather than string_views: a finding's
// rule is a std::string, which they initialise and compare with directly.
namespace rule {
#define PICKLEGUARD_RULE_CONSTANT(constant, id, title, help) inline constexpr char constant[] = id;
PICKLEGUARD_RULES(PICKLEGUARD_RULE_CONSTANT)
#undef PICKLEGUARD_RULE_CONSTANT
}  // namespace rule

struct rule_info {
    std::string_view id;
    std::string_view title;
    std::string_view help;
};

std::span<const rule_info> all_rules();
// nullptr for an identifier not in the catalogue.
const rule_info* find_rule(std::string_view id);

}  // namespace pickleguard
