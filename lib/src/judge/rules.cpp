#include "judge/rules.hpp"

namespace pickleguard {
namespace {

// clang-format off
constexpr rule_info kRules[] = {
    {"global-not-allowed", "Global outside the policy",
     "The pickle loads a module attribute (class or function) that the policy does not list. Loading a pickle imports "
     "it and lets the pickle call it, so anything outside the allow-list can run code. If you trust the code that "
     "wrote the file, add an [[allow]] entry to a policy (pickleguard policy infer writes one)."},
    {"use-not-allowed", "Global used beyond what the policy allows",
     "The global is in the policy, but the pickle does more with it (calls it, instantiates it, or applies state to "
     "objects made from it) than the entry's `uses` allow."},
    {"call-of-computed-value", "Call of a value computed while loading",
     "REDUCE, OBJ or NEWOBJ call something that is not a named global: the result of another call, a persistent "
     "object or an extension code. This is how getattr/attrgetter chains reach arbitrary methods. No policy can "
     "allow it."},
    {"argument-not-allowed", "Argument beyond what the policy allows",
     "A call or instantiation the policy allows gets an integer argument larger than the entry's max_int_arg, a "
     "str argument its str_arg_pattern does not match, or (when it has either) an argument computed while loading: "
     "bytes(10**12) makes the loader allocate that many bytes, Fraction('1e999999999') compute a power of ten with a "
     "billion digits. The shipped policies bound bytes and bytearray to 1 MiB and Fraction to the form its pickles "
     "have ('-22/7')."},
    {"mutation-of-global", "Global modified by the pickle",
     "BUILD, SETITEM(S), APPEND(S) or ADDITEMS applied to a global (a module, class or function, os.environ, "
     "sys.path...) change it for the whole process. No policy can allow it."},
    {"mutation-of-computed-value", "Object of unknown class modified",
     "BUILD or a container opcode is applied to an object whose class is not a named global."},
    {"dunder-slot-state", "BUILD sets a dunder attribute",
     "BUILD's slot state calls setattr for each key; '__class__' or '__dict__' there replace an object's class or "
     "namespace. No policy can allow it."},
    {"extension-code", "Extension registry code (EXT1/EXT2/EXT4)",
     "EXT opcodes load whatever copyreg's extension registry maps the code to. A pickle can fill that registry "
     "itself, and CPython's extension cache skips find_class. No policy can allow it."},
    {"persistent-id-not-allowed", "Persistent id the policy does not describe",
     "The pickle asks the loader's persistent_load for an object. Only the shapes the policy declares (PyTorch "
     "storages) are accepted."},
    {"malformed-pickle", "Pickle that cannot be fully decoded",
     "CPython would raise partway through, after running everything before that point. A file that cannot be read "
     "whole is never reported safe; findings before the error are reported."},
    {"limit-exceeded", "Resource limit reached",
     "Decoding stopped at a configured limit, so the rest of the file is unchecked. Raise the limit in the policy's "
     "[limits] if the file is trusted to be this large."},
    {"fix-imports-remap", "Python 2 name renamed by fix_imports",
     "Below protocol 3, CPython's find_class maps Python 2 names to Python 3 ones (e.g. __builtin__ to builtins). "
     "The finding says what the name resolves to; the policy is checked against that."},
    {"dotted-name", "Dotted name walked attribute by attribute",
     "From protocol 4, find_class resolves 'a.b' in a module by walking attributes, so a name can reach objects "
     "the module imports (shutil + os.system). Dotted names must be listed in a policy themselves."},
    {"attribute-of-global", "Attribute fetched from a global with getattr",
     "builtins.getattr(G, 'name'), where G is a named global and 'name' a constant identifier, returns what "
     "find_class returns for G's module and the dotted name G.name: the result is judged as that dotted global, "
     "which the policy must list (zoneinfo zones pickle ZoneInfo._unpickle this way). getattr itself then needs no "
     "entry, unless the pickle also puts it anywhere an allowed callable could be handed it (a container, an "
     "argument, state, the value returned). Any other getattr call stays a call of builtins.getattr, and calling "
     "its result a call of a computed value."},
    {"exact-partial", "Call of a functools.partial judged as the call it makes",
     "A functools.partial(F, *args) whose F is a named global, whose arguments were read from the stream, and which "
     "nothing else can reach or change (never put in a container, an argument or state, never returned, at most one "
     "BUILD with partial.__setstate__'s (func, args, kwds, dict) keeping the same F) makes, when called, the call "
     "F(*args, *more, **kwds): it is judged as that call, so F's policy entry and bounds apply. Only under a policy "
     "with an entry for functools.partial; any other partial is a call-of-computed-value."},
    {"data-after-stop", "Bytes after the end of the pickle",
     "pickle.load stops at STOP and ignores the rest, but readers that call it again run what follows. A pickle "
     "there is scanned too."},
    {"unreadable-file", "File could not be read",
     "The file could not be opened or read, so it was not checked."},
    {"unknown-format", "Not a format pickleguard reads",
     "The file is no pickle and no container pickleguard knows (PyTorch, numpy, joblib, zip, tar, 7z, gzip, bz2, xz, "
     "lzma, zstd, lz4), so nothing was checked. The verdict is error, never safe."},
    {"container-corrupt", "Container that cannot be read",
     "An archive, compressed stream or file header is malformed, so what it holds was not checked, and loaders may "
     "read it differently from each other."},
    {"container-limit", "Container limit reached",
     "More archive members, or containers nested deeper, than container_limits allows; the rest was not checked."},
    {"decompression-bomb", "Decompression bomb",
     "A compressed stream expands past container_limits (total decompressed size or ratio). Decompression stopped "
     "and the rest was not checked."},
    {"member-not-scanned", "Member that holds no pickle",
     "An archive member that is neither a pickle nor a known container. Nothing loads it as a pickle, so it was "
     "not scanned; listed for completeness."},
    {"zip-data-before-archive", "Bytes before the zip archive",
     "Data precedes the archive: CPython's zipfile shifts offsets past it, PyTorch's reader (miniz) does not, and "
     "pickle.load reads the front. Typical of pickle/zip polyglots. Both readings are scanned."},
    {"zip-name-mismatch", "Local and central zip names differ",
     "The local header names an entry differently from the central directory: CPython refuses it, PyTorch reads "
     "the central name, streaming readers the local one."},
    {"zip-duplicate-name", "Duplicate zip entry name",
     "Two entries share a name; CPython opens the last, other readers another. Every copy is scanned."},
    {"zip-encrypted", "Encrypted zip entry",
     "An entry is flagged encrypted: CPython asks for a password, PyTorch refuses it, readers that ignore the flag "
     "read the stored bytes. Those bytes are decoded as if in clear, so a pickle stored in clear behind the flag is "
     "judged; real ciphertext fails to decode."},
    {"zip-crc-mismatch", "Zip CRC mismatch",
     "An entry's CRC-32 does not match its content: CPython refuses it, PyTorch ignores CRCs. The file was changed "
     "after it was written."},
    {"zip-size-mismatch", "Zip sizes that lie",
     "Local and central headers disagree on sizes, CRC or method, an entry's data runs past where it may, or it "
     "inflates to a different size than declared: readers would take different bytes."},
    {"zip-overlapping-entries", "Zip entries sharing bytes",
     "One entry's data overlaps another's: the overlapping-file zip bomb, or one name's data read as another's."},
    {"zip-unsupported-compression", "Zip compression method PyTorch cannot read",
     "Only stored (0) and deflate (8) are read by PyTorch and by pickleguard; the entry was not checked."},
    {"zip-zip64", "Zip64 and classic end records disagree",
     "The zip64 end record and the classic one describe different central directories, so readers with and "
     "without zip64 support list different entries."},
    {"torchscript-archive", "TorchScript archive",
     "The zip holds constants.pkl, so torch.load hands it to torch.jit.load, which runs the TorchScript code in "
     "code/. Its pickles were scanned; the code was not. Load it with torch.jit.load only if you trust it."},
    {"torch-storage-mismatch", "PyTorch storage that does not match its record",
     "A persistent id ('storage', class, key, location, numel) names no record, or a record (or legacy storage) "
     "whose size is not numel times the class's element size."},
    {"trailing-data", "Bytes after what the loader reads",
     "Data follows the last byte the loader reads (after a legacy checkpoint's storages, or a member's records). "
     "No loader accounts for it; a pickle there is scanned too."},
    {"npy-size-mismatch", "Array data that does not match the .npy header",
     "The bytes after an .npy header are fewer (numpy.load fails) or more (never read) than shape times itemsize."},
    {"joblib-array-unreadable", "joblib array whose size cannot be told",
     "joblib.load reads raw array bytes after a NumpyArrayWrapper, but its shape or dtype is not one pickleguard can "
     "size, so the stream after it cannot be followed as joblib does."},
    {"npy-header-unreadable", ".npy header pickleguard does not follow",
     "The .npy header is a Python literal or dtype that pickleguard does not model (an escape, a dtype form or a size "
     "numpy may accept); numpy.load may accept it and unpickle what follows, so it is never trusted."},
    {"joblib-array-in-frame", "joblib array read from the middle of a frame",
     "A NumpyArrayWrapper's BUILD ends inside a pickle frame. joblib's pure-Python unpickler has read the whole frame "
     "already, so it reads the array bytes from the end of the frame, not after the BUILD, and unpickles the rest of "
     "the frame afterwards: an order of bytes pickleguard does not follow."},
    {"scanner-crashed", "Scanner process failed",
     "The sandboxed process reading this file crashed, made a forbidden system call or ran out of memory or CPU. "
     "The file was not fully checked; the other files were. Please report it: it may be a bug in pickleguard."},
    {"scan-timeout", "Scan timed out",
     "Reading this file took longer than --timeout, so it was not fully checked."},
    {"unreadable-directory", "Directory that cannot be listed",
     "A directory named on the command line or found in a walk could not be opened or read (no permission, or it "
     "changed during the walk), so nothing in it was checked. The verdict is error: a walk never passes over a "
     "directory it cannot see into."},
    {"not-a-regular-file", "Not a regular file",
     "The path named is a FIFO, a device or a socket. pickleguard reads only regular files: opening a FIFO waits "
     "for a writer, and a FIFO or device may never end (/dev/zero). Ones found in a directory walk are listed as "
     "skipped."},
    {"polyglot", "File that is a container and a pickle at once",
     "The bytes are valid under two readings, e.g. a tar (libarchive, tarfile) whose offset 0 also starts a pickle "
     "that CPython acts on: pickle.load, numpy.load, joblib.load and pandas.read_pickle run the pickle, and "
     "torch.load does when Python's tarfile refuses the archive. Every reading was judged; a file built to be read "
     "two ways is not safe."},
    {"member-not-read", "Member a loader could unpickle, not read",
     "Archive members that a loader could unpickle were not read (compression method pickleguard does not decode, "
     "data out of bounds, a limit reached). They are named; their content was not checked, so the file is not "
     "safe."},
    {"members-skipped", "Members no loader unpickles, not scanned",
     "Members that were not scanned because no loader unpickles them: text, tensor records, torch's own metadata "
     "records, TorchScript source, links. Named so that nothing is skipped silently."},
    {"container-without-pickle", "Container without a pickle",
     "No pickle was found in this archive. Nothing in it is unpickled by the loaders pickleguard stands in for; "
     "said so that an empty result is never silent."},
    {"dunder-build-state", "State that stores code the loader calls later",
     "BUILD's dict state (or the state a callable such as torch's _rebuild_from_type_v2 applies with setattr) sets "
     "an instance attribute named like the loader's own protocol: a dunder such as __setstate__ or __reduce_ex__, "
     "or append, extend, add. load_build in _pickle.c looks __setstate__ up on the instance, and APPENDS/ADDITEMS "
     "look up append/extend/add there on objects that are not plain lists and sets, so the next opcode calls what "
     "was stored, with arguments the pickle chose and none of the policy's bounds: bytes(2**36) or "
     "Fraction('1e999999999') through an allowed OrderedDict. No policy can allow it."},
    {"call-cost-exceeded", "Allowed call that would cost more than its bounds",
     "A call the policy allows would consume more than the entry (or [limits]) permits: an iterable argument longer "
     "than max_iter_len, a lazy value (range) that a constructor or __setstate__ expands beyond max_lazy_items "
     "(set(range(10**12))), more lazy items over the whole pickle than max_lazy_items, or an integer of more than "
     "max_int_bytes bytes handed to arithmetic (Fraction(a, b) runs a quadratic gcd). The finding names the call "
     "and the bound. See docs/policies.md, the cost of allowed calls."},
    {"hash-collisions", "Dict or set keys that collide in CPython's hash",
     "The keys of the pickle's dicts and sets share CPython hash() values so often that building them costs more "
     "comparisons than [limits] max_hash_collisions: 300,000 integers k * (2**61 - 1) all hash to 0, and inserting "
     "them takes minutes. Only keys whose hash does not depend on PYTHONHASHSEED are counted (int, float, bool, "
     "None, tuples and frozensets of them). No global is needed, so no allow-list can stop it; raise the limit only "
     "for files you trust."},
};
// clang-format on

}  // namespace

std::span<const rule_info> all_rules() { return kRules; }

const rule_info* find_rule(std::string_view id) {
    for (const rule_info& r : kRules)
        if (r.id == id) return &r;
    return nullptr;
}

}  // namespace pickleguard
