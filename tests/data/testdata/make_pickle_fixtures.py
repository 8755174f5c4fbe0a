"""Writes the CPython-made pickle fixtures used by tests/data/pickle_test.cc.

Run once (CPython 3.11.7 made the committed files):
    cd tests/data/testdata && python3 make_pickle_fixtures.py
The values are rebuilt inside pickle_test.cc (KitchenSink(), Vinfo(), BigList()); if this
script changes, both must change together.
"""
import pickle


def kitchen_sink(with_bytes):
    shared = [1, 2, 3]
    v = {
        "none": None,
        "true": True,
        "false": False,
        "ints": [0, 1, 255, 256, 65535, 65536, -1, -255, -256, 2**31 - 1, -2**31,
                 2**31, -2**31 - 1, 2**40 + 7, 2**63 - 1, -2**63],
        "floats": [0.0, -0.0, 0.1, -2.5, 1e300, 5e-324, float("inf"), float("-inf")],
        "strs": ["", "a", "caf\u00e9", "\u65e5\u672c", "\U0001f600", "x" * 300,
                 "quote'\"\\back\nline"],
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((1,), [2])],
        "nested": {"a": {"b": {"c": [[], {}, ()]}}},
        "shared": [shared, shared, {"again": shared}],
        "long_list": list(range(1500)),
        "int_keys": {1: "one", -2: "minus two", (3, 4): "tuple key"},
    }
    if with_bytes:
        v["bytes"] = [b"", b"\x00\xff", b"y" * 300]
    return v


def vinfo():
    # The dataset's structure: {video: {'NNNN': [(x, y), ...]}}.
    out = {}
    for vi, name in enumerate(["001", "002", "abc"]):
        frames = {}
        for f in range(1, 4):
            frames["%04d" % f] = [((vi * 0.1 + f * 0.01 + k * 0.001) % 1.0, 0.5 - 0.01 * k)
                                  for k in range(3)]
        out[name] = frames
    return out


def big_list():
    # > 64 KiB at protocol 4: several FRAMEs.
    return [i * 0.5 for i in range(8000)]


for proto in range(0, 6):
    with open("kitchen_sink_p%d.pkl" % proto, "wb") as f:
        pickle.dump(kitchen_sink(proto >= 3), f, protocol=proto)
for proto in (2, 3, 4):
    with open("vinfo_p%d.pkl" % proto, "wb") as f:
        pickle.dump(vinfo(), f, protocol=proto)
with open("big_list_p4.pkl", "wb") as f:
    pickle.dump(big_list(), f, protocol=4)
