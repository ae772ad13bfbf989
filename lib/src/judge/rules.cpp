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
    {"data-after-stop", "Bytes after the end of the pickle",
     "pickle.load stops at STOP and ignores the rest, but readers that call it again run what follows. A pickle "
     "there is scanned too."},
    {"unreadable-file", "File could not be read",
     "The file could not be opened or read, so it was not checked."},
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
