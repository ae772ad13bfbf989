"""The unit the runner works with: one pickle file and what CPython says about it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Case:
    name: str                   # unique and filesystem-safe
    data: bytes                 # the pickle handed to pickleguard
    origin: str                 # "seed" | "random" | "edge" | "mutant"
    protocol: int | None        # protocol the stream was made with, if any
    expect_ok: bool             # CPython accepts the stream
    # Canonical JSON (pgjson.canonical) of the expected value, or None when
    # only accept/reject is compared (symbolic values, policy cases, mutants).
    expect_value: str | None = None
    # CPython accepted, but a pickleguard rejection whose reason starts with
    # "limit:" is allowed (resource limits may be stricter than CPython's).
    allow_limit: bool = False
    # When set, the value comparison is exact (no set reordering): used for
    # the seed golden files, whose set order is the order in the stream.
    exact: bool = False
    note: str = ""              # why the case exists / where its verdict comes from
    cpython_reason: str = ""    # CPython's exception text when it rejects


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def safe_name(text: str) -> str:
    """Make ``text`` usable as a file name while keeping it readable."""
    return _UNSAFE.sub("_", text).strip("_")[:120] or "case"
