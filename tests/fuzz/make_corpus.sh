#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets (corpus/<target>/seed_*) from the test
# fixtures and from small files our own tools write (make_dataset, gen_coords, a short
# training run for a checkpoint's metadata). Reproducible; run from anywhere after
# `bazel build //tools:make_dataset //tools:gen_coords //tools:train`. Crash reproducers
# (corpus/<target>/crash_*) are added by hand when a fuzzer finds one and never removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=bazel-bin/tools
C=tests/fuzz/corpus
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
rm -f "$C"/*/seed_*
mkdir -p "$C"/{pickle,npy,safetensors,image,text,torch,tables,video}_fuzzer

"$BIN/make_dataset" --out="$T/ds" --videos=2 --frames=6 --height=16 --width=32 --viewers=3 \
  --gt_cache --gt_cache_height=8 --gt_cache_width=16 --mp4_dir="$T/mp4" --mp4_fps=5 >/dev/null 2>&1
"$BIN/make_dataset" --out="$T/csv" --videos=2 --frames=3 --height=16 --width=32 --viewers=2 --layout=csv >/dev/null 2>&1
"$BIN/gen_coords" --out="$T/tables" --height=8 --width=16 --levels=1 >/dev/null 2>&1
SAL360_CACHE="$T/cache" "$BIN/train" --device=cpu --height=16 --width=32 --batch=2 --max_steps=1 \
  --validate=false --out="$T/run" >/dev/null 2>&1

cp tests/data/testdata/vinfo_p*.pkl tests/data/testdata/kitchen_sink_p*.pkl "$C/pickle_fuzzer/"
cp "$T/ds/vinfo.pkl" "$C/pickle_fuzzer/seed_vinfo_small.pkl"
for f in "$C"/pickle_fuzzer/*.pkl; do case "$(basename "$f")" in seed_*) ;; *) mv "$f" "$C/pickle_fuzzer/seed_$(basename "$f")";; esac; done
cp tests/data/testdata/torch/{4x8.pt,8x16.pt,small_legacy.pth,small_zip.pth} "$C/torch_fuzzer/"
for f in "$C"/torch_fuzzer/*; do case "$(basename "$f")" in seed_*|crash_*) ;; *) mv "$f" "$C/torch_fuzzer/seed_$(basename "$f")";; esac; done
cp "$T/ds/syn000/0001_gt.npy" "$C/npy_fuzzer/seed_gt.npy"
cp "$T/tables/8x16.npy" "$C/npy_fuzzer/seed_table.npy"
cp tests/data/testdata/torch/reference_output.npy "$C/npy_fuzzer/seed_f32.npy"
cp "$T/ds/syn000/0001.jpg" "$C/image_fuzzer/seed_frame.jpg"
head -c 400 "$T/ds/syn000/0002.jpg" > "$C/image_fuzzer/seed_truncated.jpg"
cp "$T/mp4/syn000.mp4" "$C/video_fuzzer/seed_syn000.mp4"
cp "$T/csv/gaze.csv" "$C/text_fuzzer/seed_gaze.csv"

python3 - "$C" "$T" <<'PY'
import json, os, struct, sys, zlib
C, T = sys.argv[1], sys.argv[2]
def put(target, name, data):
    with open(os.path.join(C, target, "seed_" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
# npy: hand-written headers of other dtypes and orders.
def npy(descr, shape, payload, fortran=False):
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, str(tuple(shape)))
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload
put("npy_fuzzer", "f64_1x2x3.npy", npy("<f8", (1, 2, 3), struct.pack("<6d", *range(6))))
put("npy_fuzzer", "be_f4.npy", npy(">f4", (2, 2), struct.pack(">4f", 1, 2, 3, 4)))
put("npy_fuzzer", "fortran.npy", npy("<i4", (2, 3), struct.pack("<6i", *range(6)), True))
put("npy_fuzzer", "u1_scalar.npy", npy("|u1", (), b"\x07"))
# safetensors: a few tensors and the metadata of a real checkpoint.
with open(os.path.join(T, "run", "last.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
def st(tensors, metadata):
    header, blob = {"__metadata__": metadata}, b""
    for name, (shape, vals) in tensors.items():
        data = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob
put("safetensors_fuzzer", "meta.safetensors", st({"bn1.weight": ([1, 1, 1, 4], [1, 1, 1, 1]),
                                                 "conv7.bias": ([1, 1, 1, 1], [0.5])}, meta))
put("safetensors_fuzzer", "plain.safetensors", st({"a": ([2, 3], [0, 1, 2, 3, 4, 5])}, {}))
# PNG: 8-bit RGB and 16-bit grey, 4x8.
def png(w, h, depth, ctype, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
put("image_fuzzer", "rgb8.png", png(8, 4, 8, 2, [bytes(sum(((x * 30, y * 60, 90) for x in range(8)), ()))
                                                  for y in range(4)]))
put("image_fuzzer", "grey16.png", png(8, 4, 16, 0, [b"".join(struct.pack(">H", (x + y) * 4000) for x in range(8)) for y in range(4)]))
# Text formats.
put("text_fuzzer", "split.json", json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["syn001"]}))
put("text_fuzzer", "fix_icme.txt", "Idx, longitude, latitude, start timestamp, duration, end timestamp\n"
    "1, 0.25, 0.5, 0, 180, 180\n2, 0.75, 0.125, 200, 300, 500\n")
put("text_fuzzer", "fix_toolbox.txt", "# Fix_index, long_Gaze, lat_Gaze, Fix_time_start\n0,5.0e-01,2.5e-01,120\n")
put("text_fuzzer", "fix_frames.csv", "lon,lat,start frame,end frame\n0.5,0.5,2,4\n")
put("text_fuzzer", "name.txt", "clip_64x32x12_32b.bin")
# Tables: 2-byte length, tables.json, the 8x16 level.
tj = open(os.path.join(T, "tables", "tables.json"), "rb").read()
tn = open(os.path.join(T, "tables", "8x16.npy"), "rb").read()
put("tables_fuzzer", "8x16", struct.pack("<H", len(tj)) + tj + tn)
PY
echo "make_corpus: $(find "$C" -type f -name 'seed_*' | wc -l) seeds in $C"
