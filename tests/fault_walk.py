#!/usr/bin/env python3
"""Fault injection for every failure point a short training run reaches (meson test
'fault-walk', suite 'fault'; SQLite's approach, through src/core/fault.h).

First it checks that every failure point in src/ goes through the hooks (an allocation, an
OpenCL call or a file write that bypassed them would be invisible to the walk). Then it runs

    mnist-cl train --model mlp50 --data SYNTHETIC --limit 32 --batch-size 32 --epochs 2 \
        --save X.ckpt --history H.csv --verbose 2

once cleanly, to count the points of each kind (opencl, alloc, file) and learn their sites and
order, and then once per fault with MNIST_CL_FAULT=KIND:N, X.ckpt and H.csv holding a previous
run's complete files:

  - every point of the run, with one exception: a kernel launch sets its arguments with one
    clSetKernelArg each (13 or 14 per launch here), and mcl_kernel_set_args returns at the
    first that fails with nothing to undo, so failing the 1st or the 13th of one launch is one
    path; the walk fails the first argument of every launch;
  - every allocation again with MNIST_CL_FAULT=alloc:N+ (it and every later one fail): error
    paths must not need the memory that just ran out;
  - the points the other GEMM provider adds (MNIST_CL_GEMM), and those of a first run on a
    machine: the GEMM self-check and its verdict (the programs cached, no verdict yet), then
    the program built from source and written to an empty cache. "Adds": the blocks where that
    run's sequence of sites differs from the default run's.

Each of those runs must

  - exit 1 with exactly one line on stderr, "mnist-cl: error: ...", naming the operation: the
    OpenCL function injected, what ran out of host memory, the file and the errno's text (so
    also no sanitizer report, which would add lines);
  - leave no OpenCL object alive (the fault module counts our creates and releases: the leak
    sanitizer sees host memory only) and no temporary or lock file;
  - leave X.ckpt either byte for byte the previous one or a complete checkpoint of this run
    (checksum, structure, and the same weights, optimizer state and recipe as the clean run's
    after that epoch), and H.csv likewise;
or, where mnist-cl is built to carry on (a program cache it cannot read or write, a self-check
verdict it cannot keep, a build log it cannot fetch, a buffer it cannot count), exit 0 with the
clean run's output, checkpoint and history; those sites are listed.

usage: fault_walk.py PATH/TO/mnist-cl    (meson passes the executable and the ASan build's env)
environment: MNIST_CL_SOURCE_ROOT (the repository; meson sets it), MNIST_CL_FAULT_JOBS (runs
in parallel, default 2), MNIST_CL_REQUIRE_DEVICE=1 (no device is a failure, not a skip)
"""
import concurrent.futures
import difflib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

KINDS = ["opencl", "alloc", "file"]
# The errno each file point injects (src/core/atomic_file.c, file_lock.c, program_cache.c)
# and its text in the message.
ERRNO_TEXT = {
    "open": "Permission denied",
    "mkdir": "Permission denied",
    "write": "No space left on device",
    "fsync": "Input/output error",
    "close": "Input/output error",
    "rename": "Input/output error",
    "fcntl": "No locks available",
}
# Runs of consecutive points at one site that are one path (see the docstring).
ONE_PATH_RUNS = {"clSetKernelArg"}
SANITIZER = re.compile(r"Sanitizer|runtime error:|==\d+==")


def fail(message):
    print("fault-walk: " + message)
    sys.exit(1)


# ---------------------------------------------------------------- every point through the hooks

ALLOC_CALL = re.compile(r"(?<![\w.>])(malloc|calloc|realloc|strdup|strndup)\s*\(")
# OpenCL calls that can fail and whose failure mnist-cl checks; each must sit inside
# MCL_CL_CALL/CREATE/CHECK/TRY. The clGet*Info calls whose result is ignored (a kernel's name
# for a message) and the releases (counted through mcl_cl_release_*) are not failure points.
CL_CALL = re.compile(r"\b(cl(?:Create|Enqueue|Build|SetKernelArg|SetMemObject|Finish|Flush|"
                     r"WaitForEvents|GetPlatformIDs|GetDeviceIDs)\w*|CLBlast(?:Sgemm|Override)\w*)"
                     r"\s*\(")
CL_RELEASE = re.compile(r"\bcl(Release|Retain)\w*\s*\(")
FILE_CALL = re.compile(r"(?<![\w.>])(write|fsync|rename|mkdir|pwrite|ftruncate)\s*\(|"
                       r"\bopen\s*\([^;]*O_CREAT|\bfopen\s*\([^;]*\"[wa]")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def statement_start(text, at):
    """The text of the statement holding position `at`, from its start."""
    start = max(text.rfind(";", 0, at), text.rfind("{", 0, at), text.rfind("}", 0, at))
    return text[start + 1:at]


def check_routing(src):
    """Lines where a failure point bypasses the hooks."""
    problems = []
    # Calls that are not failure points because nothing depends on their result, each with
    # its reason.
    not_points = {
        # The lock file's pid, for messages only (file_lock.c says so).
        ("core/file_lock.c", "ftruncate"), ("core/file_lock.c", "pwrite"),
        # The folder's fsync after the rename: the new file is complete under its name already.
        ("core/atomic_file.c", "fsync"),
        # mcl_cl_drain: a wait with no one left to report a failure to.
        ("device/cl_status.h", "clFinish"),
    }
    for folder, _, names in os.walk(src):
        for name in names:
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, src)
            if rel.startswith("cli" + os.sep) or rel.startswith("cli/"):
                continue  # the public API only: it has no access to the hooks (core/alloc.h)
            rel = rel.replace(os.sep, "/")
            text = strip_comments(open(path, encoding="utf-8").read())
            # String literals blanked (messages name calls), for the call checks.
            code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
            if rel not in ("core/alloc.h", "core/fault.c"):
                for m in ALLOC_CALL.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append(f"{rel}:{line}: {m.group(1)}() instead of mcl_{m.group(1)}()"
                                    " (core/alloc.h)")
            if rel != "device/cl_status.h":
                for m in CL_RELEASE.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append(f"{rel}:{line}: cl{m.group(1)}... instead of "
                                    "mcl_cl_release_*/mcl_cl_retain_event (device/cl_status.h)")
            for m in CL_CALL.finditer(code):
                if (rel, m.group(1)) in not_points:
                    continue
                if "MCL_CL_" not in statement_start(code, m.start()):
                    line = code.count("\n", 0, m.start()) + 1
                    problems.append(f"{rel}:{line}: {m.group(1)} outside MCL_CL_CALL/CREATE/"
                                    "CHECK/TRY (device/cl_status.h)")
            if rel not in ("core/fault.c",):
                for m in FILE_CALL.finditer(text):
                    call = m.group(1) or "open/fopen for writing"
                    if (rel, call) in not_points:
                        continue
                    if "MCL_FAULT_" not in statement_start(text, m.start()):
                        line = text.count("\n", 0, m.start()) + 1
                        problems.append(f"{rel}:{line}: {call} outside MCL_FAULT_SYSCALL/AFTER "
                                        "(core/fault.h)")
    return problems


# ---------------------------------------------------------------- data and files

def write_idx(path, kind, count, seed):
    """A reproducible synthetic 28x28, 10-class IDX file (images or labels)."""
    x = seed % 2147483646 + 1
    if kind == "images":
        header, n = struct.pack(">IIII", 0x803, count, 28, 28), count * 784
    else:
        header, n = struct.pack(">II", 0x801, count), count
    body = bytearray(n)
    for i in range(n):
        x = x * 16807 % 2147483647
        body[i] = (x >> 23) if kind == "images" else (x >> 23) % 10
    with open(path, "wb") as f:
        f.write(header + bytes(body))


def checkpoint_sections(data):
    """The sections {tag: payload} of a complete checkpoint, or None when it is damaged."""
    if len(data) < 24 or data[:8] != b"MNISTCL\x1a" or data[-8:-4] != b"END!":
        return None
    if struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]) & 0xFFFFFFFF:
        return None
    version, count = struct.unpack("<II", data[8:16])
    at, sections = 16, {}
    for _ in range(count):
        if at + 12 > len(data) - 8:
            return None
        tag = data[at:at + 4]
        (size,) = struct.unpack("<Q", data[at + 4:at + 12])
        if at + 12 + size > len(data) - 8:
            return None
        sections.setdefault(tag, []).append(data[at + 12:at + 12 + size])
        at += 12 + size
    if at != len(data) - 8 or version != 1:
        return None
    return sections


def comparable(sections):
    """(epochs done, what two checkpoints of the same epoch of the same run share, TEST): the
    sections but the timings in HIST and, in RUN, the recipe's epoch count (the one-epoch
    reference run's is 1); apart, the test metrics (TEST), which train adds in a last save
    after its evaluation: a run that failed before that lacks them."""
    run = sections[b"RUN "][0]
    epochs = struct.unpack("<I", run[8:12])[0]
    kept = {tag: payloads for tag, payloads in sections.items() if tag not in (b"HIST", b"TEST")}
    kept[b"RUN "] = [run[:16] + run[20:]]
    return epochs, kept, sections.get(b"TEST")


def history_rows(text):
    """The history's rows without the seconds column, or None if it is not a history."""
    lines = text.splitlines()
    if not lines or lines[0] != "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds":
        return None
    return [line.rsplit(",", 1)[0] for line in lines[1:]]


def normalise_stdout(text):
    """The run's output without its timings."""
    text = re.sub(r" - \d+s - \d+ms/step", "", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("Speed:"))


# ---------------------------------------------------------------- runs

class Walk:
    """The runs of one walk: the executable, the data, the previous files."""

    def __init__(self, exe, tmp):
        self.exe = exe
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        # The program cache the runs share: the suite's (warm after the first test), else one
        # of the walk's own.
        self.cache = os.environ.get("MNIST_CL_CACHE_DIR") or os.path.join(tmp, "cache")

    def cache_for(self, config, folder):
        """The MNIST_CL_CACHE_DIR of a run of `config` in `folder`."""
        if config.cache == "shared":
            return self.cache
        mine = os.path.join(folder, "cache")
        os.mkdir(mine)
        if config.cache == "no-verdict":
            # The shared cache's programs (linked: a run that rewrites one renames a new file
            # over its own name), without the GEMM self-check's verdicts.
            for name in os.listdir(self.cache):
                if name.endswith(".bin"):
                    try:
                        os.link(os.path.join(self.cache, name), os.path.join(mine, name))
                    except OSError:
                        shutil.copy(os.path.join(self.cache, name), os.path.join(mine, name))
        return mine

    def command(self, folder, epochs=2):
        return [self.exe, "train", "--model", "mlp50", "--data", self.data, "--limit", "32",
                "--batch-size", "32", "--epochs", str(epochs),
                "--save", os.path.join(folder, "X.ckpt"),
                "--history", os.path.join(folder, "H.csv"), "--verbose", "2"]

    def run(self, name, config, fault=None, epochs=2, previous=True, timeout=300):
        """Runs the training in a fresh folder; returns (folder, rc, stdout, stderr, report)."""
        folder = os.path.join(self.tmp, name)
        os.mkdir(folder)
        env_extra = dict(config.env)
        env_extra["MNIST_CL_CACHE_DIR"] = self.cache_for(config, folder)
        if previous:
            shutil.copy(os.path.join(self.tmp, "P.ckpt"), os.path.join(folder, "X.ckpt"))
            shutil.copy(os.path.join(self.tmp, "P.csv"), os.path.join(folder, "H.csv"))
        env = dict(os.environ)
        env.pop("MNIST_CL_FAULT", None)
        env.pop("MNIST_CL_CACHE", None)
        env.update(env_extra)
        env["MNIST_CL_FAULT_REPORT"] = os.path.join(folder, "report")
        if fault is not None:
            env["MNIST_CL_FAULT"] = fault
        try:
            p = subprocess.run(self.command(folder, epochs), env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, errors="replace", timeout=timeout)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = "timeout", "", f"(killed after {timeout} s)"
        report = {"reached": {}, "sites": [], "runs": {k: [] for k in KINDS}, "live": {},
                  "injected": None}
        try:
            for line in open(os.path.join(folder, "report")):
                f = line.split()
                if f[0] == "reached":
                    report["reached"][f[1]] = int(f[2])
                elif f[0] == "site":
                    # A shared writer's points are told apart by what it writes (the label).
                    key = f[3] + (f" ({' '.join(f[5:])})" if len(f) > 5 else "")
                    report["sites"].append((f[1], key, f[4] if len(f) > 4 else ""))
                elif f[0] == "run":
                    report["runs"][f[1]].append((int(f[2]) - 1, int(f[3])))
                elif f[0] == "live":
                    report["live"][f[1]] = int(f[2])
                elif f[0] == "injected":
                    key = f[4] + (f" ({' '.join(f[6:])})" if len(f) > 6 else "")
                    report["injected"] = (f[1], int(f[2]), int(f[3]), key, f[5])
                elif f[0].endswith("overflowed"):
                    report[f[0]] = True
        except FileNotFoundError:
            report = None
        return folder, rc, out, err, report


class Config:
    """One way of running the training (GEMM provider, program cache), with its clean run's
    results. `cache`: "shared" (warm), "no-verdict" (the programs but no self-check verdict)
    or "empty" (each run builds the program and writes the cache)."""

    def __init__(self, walk, name, env, cache="shared"):
        self.name, self.env, self.cache = name, env, cache
        if cache == "shared":
            # Warms the program cache and the GEMM self-check's verdict for this provider, so
            # that every later run takes the same path.
            _, rc, _, err, _ = walk.run(f"{name}-warm-up", self)
            if rc != 0:
                fail(f"{name}: the warm-up run failed (exit {rc}): {err.strip()}")
        folder, rc, out, err, report = walk.run(f"{name}-clean", self)
        if rc != 0 or report is None:
            fail(f"{name}: the clean run failed (exit {rc}): {err.strip()}")
        if err:
            fail(f"{name}: the clean run wrote to stderr: {err.strip()}")
        live = {k: v for k, v in report["live"].items() if v != 0}
        if live:
            fail(f"{name}: the clean run leaves OpenCL objects alive: {live}")
        if report.get("sites-overflowed") or report.get("runs-overflowed"):
            fail(f"{name}: the fault report overflowed")
        one_folder, rc, _, err, _ = walk.run(f"{name}-epoch-1", self, epochs=1, previous=False)
        if rc != 0:
            fail(f"{name}: the one-epoch reference run failed (exit {rc}): {err.strip()}")
        self.references = {}
        for epochs, where in ((1, one_folder), (2, folder)):
            sections = checkpoint_sections(open(os.path.join(where, "X.ckpt"), "rb").read())
            if sections is None:
                fail(f"{name}: the reference checkpoint after epoch {epochs} does not validate")
            done, kept, test = comparable(sections)
            if done != epochs or test is None:
                fail(f"{name}: the reference checkpoint after epoch {epochs} says {done} epochs"
                     + ("" if test is not None else ", without test metrics"))
            self.references[epochs] = (kept, test)
        self.rows = history_rows(open(os.path.join(folder, "H.csv")).read())
        self.stdout = normalise_stdout(out)
        self.report = report


def sequence(report, kind):
    """The run's points of `kind` in order: [(site, call, first of a run at its site)]."""
    points = []
    for site_index, length in report["runs"][kind]:
        _, site, call = report["sites"][site_index]
        points += [(site, call, i == 0) for i in range(length)]
    if len(points) != report["reached"][kind]:
        fail(f"the report's {kind} runs add up to {len(points)}, not {report['reached'][kind]}")
    return points


def points_of(report, base=None):
    """[(kind, n, site, call)]: the clean run's points as the docstring says; with `base`
    (another configuration's clean report), only the points this run has and that one does
    not: the differing blocks of the two sequences of sites."""
    points = []
    for kind in KINDS:
        mine = sequence(report, kind)
        chosen = range(len(mine))
        if base is not None:
            theirs = [site for site, _, _ in sequence(base, kind)]
            matcher = difflib.SequenceMatcher(None, theirs, [site for site, _, _ in mine],
                                              autojunk=False)
            chosen = [j for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal"
                      for j in range(j1, j2)]
        for j in chosen:
            site, call, first = mine[j]
            if first or call not in ONE_PATH_RUNS:
                points.append((kind, j + 1, site, call))
    return points


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        return 2
    exe = os.path.abspath(sys.argv[1])
    root = os.environ.get("MNIST_CL_SOURCE_ROOT",
                          os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    started = time.monotonic()

    problems = check_routing(os.path.join(root, "src"))
    if problems:
        fail("failure points that bypass the fault-injection hooks:\n  " + "\n  ".join(problems))
    print("fault-walk: every allocation, checked OpenCL call and file write in src/ (below cli/)"
          " goes through the hooks")

    if subprocess.run([exe, "devices"], stdin=subprocess.DEVNULL, capture_output=True).returncode:
        if os.environ.get("MNIST_CL_REQUIRE_DEVICE") == "1":
            fail("no usable OpenCL device and MNIST_CL_REQUIRE_DEVICE=1")
        print("fault-walk: SKIP: no OpenCL device")
        return 77

    tmp = tempfile.mkdtemp(prefix="mnistcl-fault-walk-")
    try:
        return walk(exe, tmp, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def walk(exe, tmp, started):
    w = Walk(exe, tmp)
    os.mkdir(w.data)
    for i, (name, kind, count) in enumerate([("train-images-idx3-ubyte", "images", 64),
                                             ("train-labels-idx1-ubyte", "labels", 64),
                                             ("t10k-images-idx3-ubyte", "images", 32),
                                             ("t10k-labels-idx1-ubyte", "labels", 32)]):
        write_idx(os.path.join(w.data, name), kind, count, 21 + i)

    # The previous complete files (another seed's run); then each configuration's clean run
    # (the first also warms the program cache) and its reference for the first epoch.
    p = subprocess.run(w.command(tmp, 1)[:-2] + ["--seed", "7", "--verbose", "0"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"the run for the previous checkpoint failed: {p.stderr.strip()}")
    os.rename(os.path.join(tmp, "X.ckpt"), os.path.join(tmp, "P.ckpt"))
    os.rename(os.path.join(tmp, "H.csv"), os.path.join(tmp, "P.csv"))
    previous_ckpt = open(os.path.join(tmp, "P.ckpt"), "rb").read()
    previous_hist = open(os.path.join(tmp, "P.csv")).read()

    # The GEMM this device uses by default (mnist-cl's tiled kernels on a CPU), walked in full;
    # then the other provider, for the points at sites the first does not reach (CLBlast's
    # calls on a CPU, or the tiled kernels' on a GPU).
    default = Config(w, "default", {})
    gemm_line = next((line for line in default.stdout.splitlines() if "; GEMM: " in line), "")
    other_gemm = "tiled" if gemm_line.endswith("GEMM: CLBlast") else "clblast"
    other = Config(w, other_gemm, {"MNIST_CL_GEMM": other_gemm})
    # A first run on a machine, in two steps: the GEMM self-check and its verdict (the
    # programs cached), then the program built from source and written to the cache too.
    unchecked = Config(w, "unchecked", {}, cache="no-verdict")
    cold = Config(w, "cold", {}, cache="empty")

    # A typo in MNIST_CL_FAULT must show, not pass as a run in which nothing failed.
    _, rc, _, err, rep = w.run("malformed", default, fault="opencl:1x")
    if rc != 0 or "MNIST_CL_FAULT='opencl:1x' is not KIND:N" not in err or rep["injected"]:
        fail(f"MNIST_CL_FAULT=opencl:1x was not reported as malformed (exit {rc}): {err.strip()}")

    walks = [(default, p[0], p[1], p[2], p[3], False) for p in points_of(default.report)]
    # Allocation that keeps failing once it has failed (KIND:N+): error paths must not need
    # the memory that just ran out.
    walks += [(default, kind, n, site, call, True)
              for kind, n, site, call in points_of(default.report) if kind == "alloc"]
    for config, base in ((other, default), (unchecked, default), (cold, unchecked)):
        walks += [(config, p[0], p[1], p[2], p[3], False)
                  for p in points_of(config.report, base=base.report)]

    reached = default.report["reached"]
    distinct = {k: len({s for s in default.report["sites"] if s[0] == k}) for k in KINDS}
    print("fault-walk: the run reaches " +
          ", ".join(f"{reached[k]} {k} points at {distinct[k]} sites" for k in KINDS) +
          f" ({gemm_line.split('; GEMM: ')[-1]} GEMM)")
    for config, label in ((other, f"the {other_gemm} GEMM (MNIST_CL_GEMM={other_gemm})"),
                          (unchecked, "no self-check verdict yet"),
                          (cold, "then an empty program cache")):
        added = [i for i in walks if i[0] is config]
        print(f"fault-walk: {label} adds {len(added)} points at " +
              ", ".join(sorted({f"{i[3]} {i[4]}" for i in added})))
    print(f"fault-walk: walking {len(walks)} faults: every alloc and file point, every OpenCL "
          "point but the 2nd and later clSetKernelArg of one launch; every alloc point again "
          f"failing from there on (alloc:N+); the points the {other_gemm} GEMM, the self-check "
          "and building the program add")

    def check(item):
        config, kind, n, site, call, sticky = item
        fault = f"{kind}:{n}" + ("+" if sticky else "")
        name = f"{config.name}-{kind}-{n}" + ("-on" if sticky else "")
        folder, rc, out, err, rep = w.run(name, config, fault)
        why = []
        if rep is None:
            why.append("no fault report (the process did not exit normally)")
        else:
            inj = rep["injected"]
            if inj is None or inj[:2] != (kind, n) or (inj[2] != 1 and not sticky):
                why.append(f"injected {inj}, want {kind} point {n}" + ("" if sticky else " once"))
            elif inj[3] != site:
                why.append(f"point {n} is {inj[3]} in this run but {site} in the clean run")
            live = {k: v for k, v in rep["live"].items() if v != 0}
            if live:
                why.append(f"OpenCL objects left alive: {live}")
        lines = err.splitlines()
        if SANITIZER.search(err):
            why.append("a sanitizer report")
        ckpt_path, hist_path = os.path.join(folder, "X.ckpt"), os.path.join(folder, "H.csv")
        ckpt = open(ckpt_path, "rb").read() if os.path.exists(ckpt_path) else None
        hist = open(hist_path).read() if os.path.exists(hist_path) else None
        tolerated = rc == 0
        if rc == 0:
            # Carried on: then the run must be the clean run.
            if normalise_stdout(out) != config.stdout:
                why.append("exit 0 but the output differs from the clean run's")
            sections = checkpoint_sections(ckpt) if ckpt is not None else None
            if sections is None or comparable(sections) != (2, *config.references[2]):
                why.append("exit 0 but the checkpoint is not the clean run's")
            if hist is None or history_rows(hist) != config.rows:
                why.append("exit 0 but the history is not the clean run's")
        else:
            if rc != 1:
                why.append(f"exit {rc}, want 1")
            if len(lines) != 1 or not lines[0].startswith("mnist-cl: error: "):
                why.append(f"stderr is {len(lines)} lines, want one 'mnist-cl: error:' line")
            message = lines[0] if lines else ""
            if kind == "opencl" and call not in message:
                why.append(f"the message does not name {call}")
            if kind == "alloc" and (
                    not re.search(r"out of (host )?memory|cannot allocate", message) or
                    re.fullmatch(r"mnist-cl: error: out of (host )?memory", message)):
                why.append("the message does not say what ran out of host memory")
            if kind == "file" and (ERRNO_TEXT.get(call, "?") not in message or
                                   folder not in message):
                why.append(f"the message does not name the file and '{ERRNO_TEXT.get(call)}'")
            if ckpt is None:
                why.append("X.ckpt is missing")
            elif ckpt != previous_ckpt:
                sections = checkpoint_sections(ckpt)
                if sections is None:
                    why.append("X.ckpt is damaged")
                else:
                    done, kept, test = comparable(sections)
                    if (done not in config.references or kept != config.references[done][0] or
                            test not in (None, config.references[done][1])):
                        why.append(f"X.ckpt (epoch {done}) is not the clean run's")
            if hist is None:
                why.append("H.csv is missing")
            elif hist != previous_hist:
                rows = history_rows(hist)
                if rows is None or not rows or rows != config.rows[:len(rows)]:
                    why.append("H.csv is neither the previous history nor this run's")
        # A lock file stays where taking the lock itself failed: mnist-cl cannot tell whether
        # another writer opened it meanwhile, so it is not removed (it is unlocked, as a killed
        # writer's is, and the next writer reuses it).
        left = [f for f in os.listdir(folder)
                if ".tmp." in f or (f.endswith(".lock") and call != "fcntl")]
        if config.cache != "shared":
            left += [f"cache/{f}" for f in os.listdir(os.path.join(folder, "cache"))
                     if ".tmp." in f]
        if left:
            why.append(f"left behind: {' '.join(sorted(left))}")
        summary = f"{config.name} {fault} at {site} {call}"
        if why:
            detail = "\n".join("#   " + reason for reason in why)
            shown = "\n".join("#   | " + line for line in lines[:12])
            return False, tolerated, f"not ok - {summary}\n{detail}\n# stderr:\n{shown}"
        shutil.rmtree(folder, ignore_errors=True)
        note = "carried on" if tolerated else (lines[0] if lines else "")
        return True, tolerated, f"ok - {summary}: {note}"

    jobs = int(os.environ.get("MNIST_CL_FAULT_JOBS", "2"))
    failed, tolerated = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for item, (ok, carried_on, text) in zip(walks, pool.map(check, walks)):
            print(text, flush=True)
            if not ok:
                failed.append(item)
            elif carried_on:
                tolerated.append(item)
    seconds = time.monotonic() - started

    def count(selected, kind):
        return sum(1 for item in selected if item[1] == kind)

    for label, selected in (("one point failing", [i for i in walks if i[0] is default and
                                                   not i[5]]),
                            ("alloc:N+", [i for i in walks if i[5]]),
                            (f"{other_gemm} GEMM's points", [i for i in walks if i[0] is other]),
                            ("self-check's points", [i for i in walks if i[0] is unchecked]),
                            ("program build's points", [i for i in walks if i[0] is cold])):
        bad = [i for i in failed if i in selected]
        print(f"fault-walk: {label}: " + ", ".join(
            f"{k} {count(selected, k) - count(bad, k)}/{count(selected, k)} passed"
            for k in KINDS if count(selected, k) > 0))
    if tolerated:
        sites = sorted({f"{i[3]} {i[4]}" for i in tolerated})
        print(f"fault-walk: {len(tolerated)} faults were carried on by design, giving the clean "
              "run's output, checkpoint and history: " + "; ".join(sites))
    if failed:
        print(f"fault-walk: {len(failed)} of {len(walks)} failed ({seconds:.0f} s)")
        return 1
    print(f"fault-walk: all {len(walks)} passed ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
