#!/usr/bin/env python3
"""Writes the hostile corpus (issue #18): files a careless or hostile user might give
the tools, each broken in one way. The files are committed; this script documents how
each was made and rewrites them (python3 only, no packages). tests/hostile/MANIFEST says
which tool reads each one; hostile_corpus_test runs them all.

Run from anywhere: python3 tests/hostile/make_corpus.py
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "files")
FUZZ = os.path.join(HERE, "..", "fuzz", "corpus")


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def seed(target, name):
    with open(os.path.join(FUZZ, target, name), "rb") as f:
        return f.read()


def safetensors(header, payload=b""):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


def npy(header, payload=b""):
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, idat=None):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\x00" * (1 + 3 * max(width, 1)))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    f32 = 4 * 16 * 32
    # ---- checkpoints (safetensors) ----
    write("ckpt_empty.safetensors", b"")
    write("ckpt_short.safetensors", b"\x05\x00\x00")
    write("ckpt_header_len_2e62.safetensors", struct.pack("<Q", 1 << 62) + b"{}")
    write("ckpt_header_not_json.safetensors", safetensors(b"{this is not json"))
    write("ckpt_header_past_end.safetensors", struct.pack("<Q", 4096) + b'{"a":')
    write("ckpt_offsets_past_end.safetensors",
          safetensors({"conv1.weight": {"dtype": "F32", "shape": [64, 4, 3, 3], "data_offsets": [0, 9216]}}, b"\0" * 64))
    write("ckpt_bad_dtype.safetensors",
          safetensors({"conv1.weight": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4))
    write("ckpt_shape_overflow.safetensors",
          safetensors({"conv1.weight": {"dtype": "F32", "shape": [1 << 40, 1 << 40, 1 << 40], "data_offsets": [0, 4]}},
                      b"\0" * 4))
    write("ckpt_overlapping.safetensors",
          safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12))
    write("ckpt_no_tensors.safetensors", safetensors({"__metadata__": {"format": "sal360"}}))
    # ---- arrays (.npy) as predict --input ----
    write("npy_empty.npy", b"")
    write("npy_bad_magic.npy", b"\x93NUMPZ\x01\x00" + b"\0" * 100)
    write("npy_header_len_huge.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{")
    write("npy_shape_huge.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 3, 100000, 100000), }",
                                    b"\0" * 64))
    write("npy_truncated_data.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 16, 32), }",
                                        b"\0" * 100))
    write("npy_object_dtype.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1, 3, 16, 32), }",
                                      b"\x80\x02cos\nsystem\n" + b"\0" * 16))
    write("npy_code_in_header.npy",
          npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 16, 32), 'x': __import__('os').system('id')}",
              b"\0" * (3 * f32)))
    write("npy_negative_dim.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3, 16, 32), }",
                                      b"\0" * (3 * f32)))
    write("npy_nan_pixel.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 16, 32), }",
                                   b"\0" * 40 + struct.pack("<f", float("nan")) + b"\0" * (3 * f32 - 44)))
    write("npy_inf_map.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (16, 32), }",
                                 struct.pack("<d", float("inf")) + b"\0" * (8 * 511)))
    # ---- images ----
    write("img_empty.jpg", b"")
    write("img_garbage.jpg", b"\xff\xd8\xff\xe0" + b"\x13\x37" * 200)
    write("img_text.png", b"<html>not an image</html>\n")
    write("img_dims_100000.png", png(100000, 100000))
    write("img_zero_width.png", png(0, 16))
    write("img_idat_length_huge.png", seed("image_fuzzer", "crash_png_huge_idat_length.png"))
    # ---- pickles (as a dataset's vinfo.pkl) ----
    write("pkl_empty.pkl", b"")
    write("pkl_reduce_os_system.pkl", b"\x80\x02cos\nsystem\nq\x00X\x0c\x00\x00\x00touch /tmp/Xq\x01\x85q\x02Rq\x03.")
    write("pkl_truncated.pkl", seed("pickle_fuzzer", "seed_vinfo_small.pkl")[:57])
    write("pkl_deep_nesting.pkl", b"\x80\x02" + b"]" * 50000 + b"e" * 49999 + b".")
    write("pkl_binunicode_2gb.pkl", b"\x80\x02X\xff\xff\xff\x7fabc.")
    write("pkl_an_int.pkl", b"\x80\x02K\x07.")
    # ---- PyTorch checkpoints ----
    write("pth_zip_entry_claims_2gb.pth", seed("torch_fuzzer", "crash_zip_entry_claims_2gb.pth"))
    write("pth_garbage.pth", b"PK\x03\x04" + b"\xde\xad\xbe\xef" * 64)
    write("pth_truncated.pth", seed("torch_fuzzer", "seed_small_zip.pth")[:300])
    # ---- videos ----
    write("video_atom_1gb.mp4", seed("video_fuzzer", "crash_mp4_atom_1gb.mp4"))
    write("video_garbage.mp4", b"\x00\x00\x00\x18ftypisom" + b"\xa5" * 512)
    write("video_truncated.mp4", seed("video_fuzzer", "seed_syn000.mp4")[:200])
    # ---- text: splits, fixation lists, tables.json ----
    write("split_not_json.json", b'{"train": ["syn000", ')
    write("split_wrong_types.json", b'{"train": 5, "val": {"a": 1}, "test": null}')
    write("fix_garbage.txt", b"\x00\x01\x02 lon lat\nnot,numbers,here\n")
    write("fix_out_of_range.txt", b"0, 5.0, 0.5, 100, 200, 300\n")
    write("tables_bad.json", b'{"format": "sal360-tables", "levels": [{"height": -8, "width": 1e300}]}')


if __name__ == "__main__":
    main()
