#!/usr/bin/python3
"""Writes the seed corpus of fuzz_npz (tests/fuzz/corpus/npz/), which test_npz also reads as
files that NumPy itself wrote. Needs numpy (Debian's python3-numpy; 1.24 made the committed
files). Every archive holds the same tiny dataset: x_train uint8 [12, 5, 6], y_train [12] with
labels 0..2, x_test uint8 [6, 5, 6], y_test [6].

Usage: tests/fuzz/npz_corpus.py [OUT_DIR]   (default: the corpus folder beside this script)"""
import io
import os
import sys
import zipfile

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "npz")
os.makedirs(out, exist_ok=True)

x_train = (np.arange(12 * 5 * 6, dtype=np.int64) * 37 % 251).astype(np.uint8).reshape(12, 5, 6)
y_train = np.array([0, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1, 2], dtype=np.uint8)
x_test = (np.arange(6 * 5 * 6, dtype=np.int64) * 11 % 256).astype(np.uint8).reshape(6, 5, 6)
y_test = np.array([2, 1, 0, 0, 1, 2], dtype=np.uint8)
arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}

# What np.savez and np.savez_compressed write (a zip64 extra field in every local header).
np.savez(os.path.join(out, "savez.npz"), **arrays)
np.savez_compressed(os.path.join(out, "savez-compressed.npz"), **arrays)
# Labels as Keras users often have them: int64, and a column [N, 1] of big-endian int32.
np.savez(os.path.join(out, "labels-int64.npz"), x_train=x_train, y_train=y_train.astype(np.int64),
         x_test=x_test[..., np.newaxis], y_test=y_test.astype(">i4").reshape(-1, 1))


def write_zip(path, version, compression, stream=False, zip64=False):
    """The arrays as .npy files of format `version`, in a zip written by Python's zipfile:
    to a stream that cannot seek (data descriptors after each member), or with zip64 records
    forced everywhere (central directory extras, the zip64 end record and locator)."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    if zip64:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        buf = io.BytesIO()

        class Unseekable(io.RawIOBase):
            def writable(self):
                return True

            def write(self, b):
                return buf.write(b)

        target = Unseekable() if stream else buf
        with zipfile.ZipFile(target, "w", compression=compression) as z:
            for name, a in arrays.items():
                npy = io.BytesIO()
                np.lib.format.write_array(npy, a, version=version)
                z.writestr(name + ".npy", npy.getvalue())
        with open(path, "wb") as f:
            f.write(buf.getvalue())
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


write_zip(os.path.join(out, "npy-v2.npz"), (2, 0), zipfile.ZIP_STORED)
write_zip(os.path.join(out, "npy-v3-deflated.npz"), (3, 0), zipfile.ZIP_DEFLATED)
write_zip(os.path.join(out, "zip64.npz"), (1, 0), zipfile.ZIP_DEFLATED, zip64=True)
write_zip(os.path.join(out, "data-descriptors.npz"), (1, 0), zipfile.ZIP_DEFLATED, stream=True)
