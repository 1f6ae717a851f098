#!/usr/bin/env python3
"""The layer order of src/, checked (meson test 'layering').

Every `#include "..."` under src/ must point at a file of the same layer or of a layer below
it. Folders on one line are peers: they may include the layers below but not each other. This
list is the rule; the README's "How it works" describes each folder.

Inside device/ the files have an order of their own, because that is where a cycle grew once
(context creation called the program builder and the GEMM code, which called back into it):
a device/ file may include device/ headers of its own name or of a name further down.

Usage: layering.py SRC_DIR    (exit status 1 and one line per upward include when one exists)
"""
import os
import re
import sys

LAYERS = [
    ["cli"],            # commands: the only place an error becomes an exit code
    ["store", "plot"],  # files about a model or a run: checkpoints, exports, history; charts
    ["graph"],          # model language, layer graph, trainer, evaluation
    ["ops", "data"],    # ops and their kernels' host side; datasets and images on the host
    ["device"],         # OpenCL: discovery, context, program, GEMM, launches, buffers
    ["core"],           # errors, Philox, byte buffers, atomic files, file reading
    ["mnistcl"],        # include/mnistcl/: the public API
]

DEVICE_ORDER = [
    "context",
    "self_check",
    "gemm_tune",
    "kernel_tuning",
    "program",
    "program_cache",
    "gemm",
    "device",
    "kernel_profile",
    "platforms",
    "kernel_shapes",
    "cl_sources",
    "cl_status",
]

# Headers the build generates, and the folder whose sources they belong to.
GENERATED = {"onnx.pb-c.h": "store"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(folder):
    for rank, peers in enumerate(LAYERS):
        if folder in peers:
            return rank
    return None


def order_text():
    return " > ".join(", ".join(peers) for peers in LAYERS)


def check_file(src, path, problems):
    rel = os.path.relpath(path, src)
    folder = rel.split(os.sep)[0]
    stem = os.path.splitext(os.path.basename(path))[0]
    here = layer_of(folder)
    if here is None:
        problems.append(f"src/{rel}: folder {folder}/ has no place in the layer order "
                        f"(add it to LAYERS in tests/layering.py)")
        return 0
    count = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            count += 1
            target = m.group(1)
            where = f"src/{rel}:{number}: includes \"{target}\""
            if target in GENERATED:
                to_folder = GENERATED[target]
            elif "/" in target:
                to_folder = target.split("/")[0]
                if to_folder != "mnistcl" and not os.path.isfile(os.path.join(src, target)):
                    problems.append(f"{where}, which is not a file under src/")
                    continue
            else:
                problems.append(f"{where}: name it by its folder (\"{folder}/{target}\")")
                continue
            there = layer_of(to_folder)
            if there is None:
                problems.append(f"{where}: {to_folder}/ has no place in the layer order")
            elif there < here or (there == here and to_folder != folder):
                problems.append(f"{where}: {folder}/ may not include {to_folder}/ "
                                f"(layers, top to bottom: {order_text()})")
            elif folder == "device" and to_folder == "device":
                to_stem = os.path.splitext(os.path.basename(target))[0]
                if stem not in DEVICE_ORDER or to_stem not in DEVICE_ORDER:
                    unknown = stem if stem not in DEVICE_ORDER else to_stem
                    problems.append(f"{where}: device/{unknown} has no place in DEVICE_ORDER "
                                    f"(tests/layering.py)")
                elif DEVICE_ORDER.index(to_stem) < DEVICE_ORDER.index(stem):
                    problems.append(f"{where}: device/{stem} may not include device/{to_stem}, "
                                    f"which is above it (device/, top to bottom: "
                                    f"{' > '.join(DEVICE_ORDER)})")
    return count


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    problems = []
    files = includes = 0
    for root, _, names in sorted(os.walk(src)):
        for name in sorted(names):
            if name.endswith((".c", ".h")):
                files += 1
                includes += check_file(src, os.path.join(root, name), problems)
    for p in problems:
        print(p)
    if problems:
        print(f"layering: {len(problems)} include(s) break the layer order")
        return 1
    print(f"layering: {files} files, {includes} includes, all pointing down "
          f"({order_text()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
