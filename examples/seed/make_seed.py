#!/usr/bin/python3
"""Write the seed golden files: seed_p0.pkl ... seed_p5.pkl and seed_pN.json.

The pickled value is

    {'a': [1, 2.0, 3, 4+6j],
     'b': ("character string", b"byte string"),
     'c': {None, True, False}}

and seed_pN.json holds the JSON value ``pickleguard decode`` must print for
seed_pN.pkl (the "value" member of its output line), per the value-JSON rules
in tests/differential/pgjson.py.

The set's element order in both files is the order Python iterated the set
while pickling, which is the order the stream records.  hash(None) is
address-based in CPython 3.11, so that order can change between runs of this
script: always regenerate the .pkl and .json files together.

Usage:  /usr/bin/python3 examples/seed/make_seed.py [OUTDIR]
"""

import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "differential"))

import pgjson  # noqa: E402

SEED = {'a': [1, 2.0, 3, 4+6j], 'b': ("character string", b"byte string"), 'c': {None, True, False}}


def main() -> None:
    outdir = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(outdir, exist_ok=True)
    # One rendering for all protocols: every protocol iterates the same set
    # object, so they all record the same element order.
    expected = pgjson.dumps(pgjson.to_json(SEED)) + "\n"
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(SEED, protocol=proto)
        # Our own pickle of our own value, so loading it is safe: check that
        # it round-trips before declaring the JSON its expected decoding.
        assert pickle.loads(data) == SEED
        with open(os.path.join(outdir, f"seed_p{proto}.pkl"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, f"seed_p{proto}.json"), "w", encoding="utf-8") as f:
            f.write(expected)
    print(f"wrote seed_p0..{pickle.HIGHEST_PROTOCOL}.pkl/.json to {outdir}")


if __name__ == "__main__":
    main()
