"""Helpers fakelib's loading code imports inside functions (a constant,
installed module of the library): what they call is scanned as any callee."""


def clamp(x, lo=0, hi=100):
    return max(lo, min(hi, x))


def run_code(text):
    return eval(text)
