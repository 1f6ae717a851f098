#!/usr/bin/env python3
"""Compiles mnist-cl's kernels offline, the way the drivers of each device class would, with
clang's OpenCL C 1.2 front end: every class's -D options (tests/kernel_options) for the targets
that class stands for, and every class for SPIR (the portable form).

  CPU, 16-wide: x86-64 with AVX-512    CPU, 8-wide: x86-64 with AVX2
  CPU, 4-wide: x86-64 (SSE2), AArch64 (NEON)
  SIMT (GPUs): nvptx64 (NVIDIA), amdgcn (AMD), spir64

A build fails the test on an error, on any diagnostic (-Wall -Wextra: a GPU driver's compiler
may refuse what clang only warns about; with AVX2, a 512-bit vector type changes the calling
convention and clang says so), and on an undefined non-builtin function in the IR at -O0, where
nothing is inlined: OpenCL builtins are mangled (_Z...) and LLVM's intrinsics are llvm.*, so any
other declaration is a helper of ours that a driver would have to link and cannot (a C99
`inline` without `static` has no definition).

Usage: offline_compile.py CLANG KERNEL_OPTIONS FILE.cl... (in the order the program joins them)
"""
import os
import re
import subprocess
import sys
import tempfile

TARGETS = {
    0: [['-target', 'x86_64-unknown-linux-gnu', '-march=skylake-avx512']],
    1: [['-target', 'x86_64-unknown-linux-gnu', '-march=haswell']],
    2: [['-target', 'x86_64-unknown-linux-gnu', '-march=x86-64'],
        ['-target', 'aarch64-unknown-linux-gnu']],
    3: [['-target', 'nvptx64-nvidia-nvcl'], ['-target', 'amdgcn-amd-amdhsa', '-mcpu=gfx900', '-nogpulib'],
        ['-target', 'spir64-unknown-unknown']],
}
SPIR = ['-target', 'spir64-unknown-unknown']
BASE = ['-x', 'cl', '-Xclang', '-finclude-default-header', '-Wall', '-Wextra']
DECLARE = re.compile(r'^declare\b.*?@("?)([A-Za-z0-9_.$]+)\1\(', re.M)


def compile_ir(clang, source, options, target, opt):
    with tempfile.NamedTemporaryFile(suffix='.ll') as out:
        cmd = [clang] + BASE + target + options + [opt, '-emit-llvm', '-S', '-o', out.name,
                                                    source]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, r.stderr.strip(), open(out.name).read() if r.returncode == 0 else ''


def main():
    clang, options_exe, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not files:
        sys.exit('usage: offline_compile.py CLANG KERNEL_OPTIONS FILE.cl...')
    lines = subprocess.run([options_exe], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        # One source as the program is built: the files joined in order, each after a #line.
        source = os.path.join(tmp, 'mnist-cl.cl')
        with open(source, 'w') as out:
            for path in files:
                out.write('#line 1 "cl/%s"\n' % os.path.basename(path))
                with open(path) as f:
                    out.write(f.read())
                out.write('\n')
        failures, builds = [], 0
        for line in lines:
            cls, opts = line.split('\t', 1)
            options = opts.split()
            targets = TARGETS[int(cls)] + ([] if int(cls) == 3 else [SPIR])
            for target in targets:
                name = 'class %s, %s' % (cls, ' '.join(target))
                for opt in ('-O2', '-O0'):
                    builds += 1
                    rc, diagnostics, ir = compile_ir(clang, source, options, target, opt)
                    if rc != 0 or diagnostics:
                        failures.append('%s %s: %s' % (name, opt, diagnostics or 'failed'))
                        continue
                    if opt == '-O0':
                        undefined = sorted({m.group(2) for m in DECLARE.finditer(ir)
                                            if not m.group(2).startswith(('_Z', 'llvm.'))})
                        if undefined:
                            failures.append('%s: undefined functions %s' %
                                            (name, ', '.join(undefined)))
        for f in failures:
            print('FAIL', f[:2000])
        print('%d builds (%d device classes), %d failed' % (builds, len(lines), len(failures)))
        sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
