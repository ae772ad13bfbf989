#!/usr/bin/python3
"""Byte-built abuses of the entry classes the reviewed numpy, pandas, sklearn, gensim and nltk entries added.

    reviewed_entry_attacks.py --pickleguard build/tools/pickleguard

policies/reviewed/{numpy,pandas}.toml allow numpy ufuncs as references (so a
FunctionTransformer(func=numpy.log1p) loads) and dateutil's time zones
(tzutc, tzoffset, tzlocal, _ttinfo; tzfile called, whose __init__ opens its
first argument when it is a str and calls its .read otherwise). Each
technique below is a pickle built byte by byte (never loaded) that would
abuse one of them: call a reference, hand it to a helper that calls or
instantiates its argument (invokes), reach its attributes through a dotted
name, store __setstate__ on it with BUILD, or make tzfile open a file of the
attacker's choosing or call .read on an object the pickle made. Every one
must be unsafe under each policy that has the entry (the shipped file, by
path). Two controls, the tzfile calls pandas itself writes, must be safe,
so the bound is not simply "refuse tzfile".

policies/reviewed/{gensim,nltk}.toml allow builtins.hash as a reference
(Word2Vec's hashfxn) and re._compile called with a bounded pattern and flags
(RegexpTagger's compiled patterns). Their rows (ENTRY_ATTACKS) each name the
bound that refuses them, and must be safe under a copy of the shipped policy
without it: a row some other rule refuses does not test its bound. Their
controls are what gensim and nltk write. Under default and numpy-data a
ufunc reference is unsafe: they hold the names of numpy values, not the
generated numpy.

policies/pytorch.toml's torch._utils._rebuild_parameter stores its third
argument as the parameter's backward hooks, which backward() calls with the
gradient: it must be an empty container nothing fills (`args` pos 2
`empty`), as torch writes it, not a dict holding an allowed reference.
"""
import pathlib
import re
import sys
import tempfile
from harness import ROOT, arguments, report, scan_verdicts, stack_global, text

UMATH = "numpy.core._multiarray_umath"
TZ = "dateutil.tz.tz"


g = stack_global


def p4(body):
    return b"\x80\x04" + body + b"."


def tup(*items):
    return b"(" + b"".join(items) + b"t"


NONE = b"N"
EMPTY_DICT = b"}"
PARIS = "/usr/share/zoneinfo/Europe/Paris"

# (technique, body, policies it must be unsafe under)
NUMPY_POLICIES = ["numpy", "pandas", "sklearn", "default", "numpy-data"]
# The policies with the generated numpy (ufuncs as references); default and
# numpy-data hold only the names pickles of numpy values use.
UFUNC_POLICIES = ["numpy", "pandas", "sklearn"]
DATA_POLICIES = ["default", "numpy-data"]
PANDAS_POLICIES = ["pandas"]
ATTACKS = [
    # default's scope: numpy-data, not the generated numpy, so no ufunc at all
    ("ufunc_reference_under_default", g(UMATH, "log1p"), DATA_POLICIES),
    ("ufunc_public_name_under_default", g("numpy", "log1p"), DATA_POLICIES),
    # ufuncs: references only
    ("ufunc_called_by_reduce", g(UMATH, "log1p") + tup(b"K\x01") + b"R", NUMPY_POLICIES),
    ("ufunc_public_name_called", g("numpy", "add") + tup(b"K\x01", b"K\x02") + b"R", NUMPY_POLICIES),
    ("ufunc_instantiated_by_newobj", g(UMATH, "exp") + b")\x81", NUMPY_POLICIES),
    ("ufunc_method_by_dotted_name", g(UMATH, "add.reduce") + tup(tup(b"K\x01")) + b"R", NUMPY_POLICIES),
    ("ufunc_dunder_by_dotted_name", g(UMATH, "log1p.__class__"), NUMPY_POLICIES),
    ("ufunc_build_sets_setstate",
     g(UMATH, "log1p") + EMPTY_DICT + text("__setstate__") + g("builtins", "eval") + b"s" + b"b", NUMPY_POLICIES),
    ("ufunc_called_by_generator_ctor_invokes",
     g("numpy.random._pickle", "__generator_ctor") + tup(text("MT19937"), g(UMATH, "log1p")) + b"R", NUMPY_POLICIES),
    ("ufunc_called_by_reconstructor_invokes",
     g("copyreg", "_reconstructor") + tup(g("numpy", "ndarray"), g(UMATH, "log1p"), b"K\x05") + b"R", NUMPY_POLICIES),
    ("ufunc_instantiated_by_new_index_invokes",
     g("pandas.core.indexes.base", "_new_Index") + tup(g(UMATH, "log1p"), EMPTY_DICT) + b"R", PANDAS_POLICIES),
    # tzfile: its str argument is a file it opens, any other object's .read is called
    ("tzfile_opens_etc_passwd", g(TZ, "tzfile") + tup(text("/etc/passwd")) + b"R", PANDAS_POLICIES),
    ("tzfile_dotdot_out_of_zoneinfo",
     g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/Europe/../../../../etc/passwd")) + b"R", PANDAS_POLICIES),
    ("tzfile_zoneinfo_localtime_symlink", g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/localtime")) + b"R",
     PANDAS_POLICIES),
    ("tzfile_device_file", g(TZ, "tzfile") + tup(text("/dev/zero")) + b"R", PANDAS_POLICIES),
    ("tzfile_filename_hides_path", g(TZ, "tzfile") + tup(NONE, text("/etc/shadow")) + b"R", PANDAS_POLICIES),
    ("tzfile_read_of_object_made_by_newobj",
     g(TZ, "tzfile") + tup(g(TZ, "tzoffset") + b")\x81" + EMPTY_DICT + text("read") + g(UMATH, "log1p") + b"sb")
     + b"R", PANDAS_POLICIES),
    ("tzfile_read_of_global", g(TZ, "tzfile") + tup(g("pandas.core.indexes.base", "Index")) + b"R", PANDAS_POLICIES),
    ("tzfile_path_computed_while_loading",
     g(TZ, "tzfile") + tup(g("builtins", "str") + tup(text("/etc/passwd")) + b"R") + b"R", PANDAS_POLICIES),
    ("tzfile_instantiated_by_newobj_ex",
     g(TZ, "tzfile") + b")" + EMPTY_DICT + text("fileobj") + text("/etc/passwd") + b"s" + b"\x92", PANDAS_POLICIES),
    ("tzfile_base_of_reconstructor",
     g("copyreg", "_reconstructor") + tup(g(TZ, "tzfile"), g(TZ, "tzfile"), text("/etc/passwd")) + b"R",
     PANDAS_POLICIES),
    ("tzfile_keyword_through_new_index",
     g("pandas.core.indexes.base", "_new_Index") + tup(g(TZ, "tzfile"), EMPTY_DICT + text("fileobj") +
                                                       text("/etc/passwd") + b"s") + b"R", PANDAS_POLICIES),
    ("tzfile_as_defaultdict_factory", g("collections", "defaultdict") + tup(g(TZ, "tzfile")) + b"R", PANDAS_POLICIES),
    ("tzfile_build_sets_setstate",
     g(TZ, "tzfile") + tup(NONE, text(PARIS)) + b"R" + EMPTY_DICT + text("__setstate__") + g("builtins", "eval")
     + b"sb", PANDAS_POLICIES),
    # the other time zones: new (and build) only
    ("tzutc_called_with_args", g(TZ, "tzutc") + tup(text("x")) + b"R", PANDAS_POLICIES),
    ("tzlocal_called", g(TZ, "tzlocal") + b")R", PANDAS_POLICIES),
    ("tzoffset_build_sets_dunder",
     g(TZ, "tzoffset") + b")\x81" + EMPTY_DICT + text("__reduce__") + g("builtins", "eval") + b"sb", PANDAS_POLICIES),
    ("ttinfo_build_sets_setstate",
     g(TZ, "_ttinfo") + b")\x81" + EMPTY_DICT + text("__setstate__") + g("builtins", "exec") + b"sb", PANDAS_POLICIES),
    ("tzfile_by_dotted_name_init", g(TZ, "tzfile.__init__") + tup(NONE, text("/etc/passwd")) + b"R",
     PANDAS_POLICIES),
]
# gensim's builtins.hash (reference only) and nltk's re._compile (two arguments,
# flags <= 127, an ASCII pattern of at most 64 characters without \N, \u, \U,
# without | and with no letter in a set).
# Each row's last item is the bound it tests: (policy, regex, replacement)
# applied to a copy of policies/POLICY.toml, under which the row must be safe,
# so the row fails when the bound goes.
GENSIM_POLICIES = ["gensim"]
NLTK_POLICIES = ["nltk"]
HASH_CALLABLE = ("gensim", r'(name = "hash"\nuses = \["reference")\]', r'\1, "call"]')
COMPILE = r'(name = "_compile"\n(?:.*\n)*?)'
NO_FLAGS_BOUND = ("nltk", r", \{ pos = 1, max_int = 127 \}", "")
NO_PATTERN_BOUND = ("nltk", r"\{ pos = 0, pattern = .*? \}, ", "")
NO_LENGTH_BOUND = ("nltk", COMPILE + r"max_iter_len = 64\n", r"\1")
NO_MAX_ARGS = ("nltk", COMPILE + r"max_args = 2\n", r"\1")
RE = ("re", "_compile")
# torch's _rebuild_parameter(data, requires_grad, backward_hooks) stores the hooks, which backward() calls with
# the gradient: args pos 2 must be an empty container nothing fills (python.toml's OrderedDict is the reference).
TORCH_POLICIES = ["pytorch", "default", "torchvision"]
NO_HOOKS_BOUND = ("pytorch", r"args = \[\{ pos = 2, empty = true \}\]\n", "")
PARAM = ("torch._utils", "_rebuild_parameter")
ORDERED_DICT = g("collections", "OrderedDict") + b")R"
HOOK = b"K\x00" + g("builtins", "bytes") + b"s"  # bytes(grad): an allowed reference, called by backward()
NO_TENSOR_HOOKS_BOUND = ("pytorch", r"(name = \"_rebuild_tensor_v2\"\n(?:.*\n)*?)args = \[\{ pos = 5, empty = true \}\]\n",
                         r"\1")
PARAMETER_BUILDS = ("pytorch", r'(name = "Parameter"\nuses = \[)"reference"\]', r'\1"new", "build", "reference"]')
INT0, TRUE = b"K\x00", b"\x88"
BIG_TUPLE = b"(" + b"K\x01" * 1000 + b"t"
ENTRY_ATTACKS = [
    ("hash_called_by_reduce", g("builtins", "hash") + tup(BIG_TUPLE) + b"R", GENSIM_POLICIES, HASH_CALLABLE),
    ("hash_called_by_reconstructor_invokes",
     g("copyreg", "_reconstructor") + tup(g("gensim.corpora.dictionary", "Dictionary"), g("builtins", "hash"), BIG_TUPLE) + b"R",
     GENSIM_POLICIES, HASH_CALLABLE),
    ("hash_self_by_dotted_name", g("builtins", "hash.__self__"), GENSIM_POLICIES, None),
    ("hash_build_sets_setstate",
     g("builtins", "hash") + EMPTY_DICT + text("__setstate__") + g("builtins", "eval") + b"sb", GENSIM_POLICIES, None),
    ("re_compile_debug_flag_prints", g(*RE) + tup(text(".*"), b"K\x80") + b"R", NLTK_POLICIES, NO_FLAGS_BOUND),
    ("re_compile_ascii_flag", g(*RE) + tup(text(".*"), b"M\x00\x01") + b"R", NLTK_POLICIES, NO_FLAGS_BOUND),
    ("re_compile_set_of_every_code_point",
     g(*RE) + tup(text("[\x00-\U0010ffff]" * 7), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_set_by_u_escape",
     g(*RE) + tup(text("[\\x00-\\U0010ffff]" * 3), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_set_by_named_escape",
     g(*RE) + tup(text("[\\x00-\\N{CJK COMPATIBILITY IDEOGRAPH-2FA1D}]"), b"K\x22") + b"R",
     NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_pattern_beyond_64_characters",
     g(*RE) + tup(text("(k)" * 22), b"K\x22") + b"R", NLTK_POLICIES, NO_LENGTH_BOUND),
    ("re_compile_set_of_folding_letters_ignorecase",
     g(*RE) + tup(text("[ks]" * 16), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_single_letter_alternation_makes_a_set",
     g(*RE) + tup(text("(?:k|s)" * 9), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_range_across_letters",
     g(*RE) + tup(text("[!-~]" * 12), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_escaped_backslash_then_set",
     g(*RE) + tup(text("\\\\[ks]" * 10), b"K\x22") + b"R", NLTK_POLICIES, NO_PATTERN_BOUND),
    ("re_compile_third_argument", g(*RE) + tup(text(".*"), b"K\x20", b"K\x00") + b"R", NLTK_POLICIES, NO_MAX_ARGS),
    ("re_compile_pattern_computed_while_loading",
     g(*RE) + tup(g("builtins", "str") + tup(text(".*")) + b"R", b"K\x20") + b"R", NLTK_POLICIES, None),
    ("re_compile_keyword_flags",
     g(*RE) + tup(text(".*")) + EMPTY_DICT + text("flags") + b"K\x80" + b"s" + b"\x92", NLTK_POLICIES, None),
    ("re_compile_as_defaultdict_factory", g("collections", "defaultdict") + tup(g(*RE)) + b"R", NLTK_POLICIES, None),
    ("parameter_backward_hooks_hold_a_reference",
     g(*PARAM) + tup(NONE, b"\x88", EMPTY_DICT + HOOK) + b"R", TORCH_POLICIES, NO_HOOKS_BOUND),
    ("tensor_v2_backward_hooks_hold_a_reference",
     g("torch._utils", "_rebuild_tensor_v2") + tup(NONE, INT0, b")", b")", TRUE, EMPTY_DICT + HOOK) + b"R",
     TORCH_POLICIES, NO_TENSOR_HOOKS_BOUND),
    # NEWOBJ Parameter() then BUILD (requires_grad, _, backward_hooks): Tensor.__setstate__ sets the hooks
    ("parameter_newobj_build_state_sets_backward_hooks",
     g("torch.nn.parameter", "Parameter") + b")\x81" + tup(TRUE, NONE, EMPTY_DICT + HOOK) + b"b", TORCH_POLICIES,
     PARAMETER_BUILDS),
    # the numpy-data path to a tensor with data but no storage (index tensors for _rebuild_sparse_tensor)
    ("device_tensor_from_numpy_makes_a_tensor_without_a_storage",
     g("torch._utils", "_rebuild_device_tensor_from_numpy") + tup(NONE, NONE, text("cpu"), TRUE) + b"R",
     TORCH_POLICIES, None),
    ("parameter_backward_hooks_ordered_dict_filled_after_the_call",
     g(*PARAM) + b"(" + NONE + b"\x88" + ORDERED_DICT + b"\x94" + b"tR" + b"h\x00" + HOOK + b"0", TORCH_POLICIES,
     NO_HOOKS_BOUND),
]
CONTROLS = [
    ("tzfile_as_pandas_writes_it", g(TZ, "tzfile") + tup(NONE, text(PARIS)) + b"R" + EMPTY_DICT + text("_filename")
     + text(PARIS) + b"sb", PANDAS_POLICIES),
    ("tzfile_opens_a_system_zone", g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/America/Argentina/Buenos_Aires"))
     + b"R", PANDAS_POLICIES),
    ("ufunc_reference", g(UMATH, "log1p"), UFUNC_POLICIES),
    ("hash_reference_as_word2vec_stores_it", g("builtins", "hash"), GENSIM_POLICIES),
    ("tensor_v2_as_torch_writes_it", g("torch._utils", "_rebuild_tensor_v2")
     + tup(NONE, INT0, b")", b")", b"\x89", ORDERED_DICT) + b"R", TORCH_POLICIES),
    ("parameter_as_torch_writes_it", g(*PARAM) + tup(NONE, b"\x88", ORDERED_DICT) + b"R", TORCH_POLICIES),
    ("re_compile_as_nltk_writes_it", g(*RE) + tup(text(".*ed$"), b"K\x20") + b"R", NLTK_POLICIES),
    ("re_compile_number_pattern_ignorecase", g(*RE) + tup(text(r"^-?[0-9]+(\.[0-9]+)?$"), b"K\x22") + b"R",
     NLTK_POLICIES),
]


def verdicts(pickleguard, policy, paths):
    return {pathlib.Path(p).name: v for p, v in scan_verdicts(pickleguard, policy, paths).items()}


def without(tmp, bound):
    """A copy of policies/POLICY.toml with the bounding text replaced (exactly once)."""
    policy, pattern, replacement = bound
    src = (ROOT / "policies" / f"{policy}.toml").read_text()
    cut, n = re.subn(pattern, replacement, src, count=1)
    if n != 1 or cut == src:
        sys.exit(f"policies/{policy}.toml has no text matching {pattern!r}: update this test")
    copy = tmp / f"without-{len(list(tmp.glob('without-*')))}-{policy}.toml"
    copy.write_text(cut)
    return copy


def main():
    args = arguments()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        cases = ([(n, b, pols, "unsafe") for n, b, pols in ATTACKS] + [(n, b, pols, "unsafe") for n, b, pols, _ in ENTRY_ATTACKS]
                 + [(n, b, pols, "safe") for n, b, pols in CONTROLS])
        for name, body, _, _ in cases:
            (tmp / f"{name}.pkl").write_bytes(p4(body))
        for policy in sorted({p for _, _, pols, _ in cases for p in pols}):
            path = ROOT / "policies" / f"{policy}.toml"
            mine = [(n, want) for n, _, pols, want in cases if policy in pols]
            v = verdicts(args.pickleguard, path, [tmp / f"{n}.pkl" for n, _ in mine])
            for n, want in mine:
                got = v[f"{n}.pkl"]
                if (got == "safe") != (want == "safe"):
                    errors.append(f"{n} under {policy}: {got}, expected {want}")
        # Without its bound each entry attack is safe: the bound, not something else, refuses it.
        for name, _, pols, bound in ENTRY_ATTACKS:
            if bound is None:
                continue
            got = verdicts(args.pickleguard, str(without(tmp, bound)), [tmp / f"{name}.pkl"])[f"{name}.pkl"]
            if got != "safe":
                errors.append(f"{name} is {got} under {bound[0]} without its bound {bound[1]!r}, must be safe: "
                              "something else refuses it, so the row does not test the bound")
        n_ablated = sum(1 for row in ENTRY_ATTACKS if row[3])
        print(f"{len(ATTACKS) + len(ENTRY_ATTACKS)} attacks ({n_ablated} also without their bound) and "
              f"{len(CONTROLS)} controls on the reviewed entries' classes")
    return report(errors)


if __name__ == "__main__":
    sys.exit(main())
