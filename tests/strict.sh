#!/bin/sh
# Runs a program under oclgrind, the strict OpenCL simulator, and fails when oclgrind reports
# anything (an out-of-bounds access, a data race, an uninitialised value, barrier divergence,
# an API misuse), or when the program itself fails.
#
# usage: tests/strict.sh [OCLGRIND-OPTION...] -- PROGRAM [ARG...]
#
# oclgrind 21.10's uninitialised-value checker stops at LLVM's `freeze` instruction, which
# optimised builds contain: with --uninitialized the kernels are built without optimisation
# (OCLGRIND_BUILD_OPTIONS=-cl-opt-disable; mnist-cl keys its program cache on it). It also takes
# memory filled by clEnqueueFillBuffer as uninitialised; mnist-cl writes instead of filling on
# that platform (mcl_fill).
set -u
flags=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    flags="$flags $1"
    case $1 in --uninitialized) export OCLGRIND_BUILD_OPTIONS=-cl-opt-disable ;; esac
    shift
done
[ $# -gt 1 ] || { echo "usage: $0 [OCLGRIND-OPTION...] -- PROGRAM [ARG...]" >&2; exit 2; }
shift
if ! command -v oclgrind >/dev/null 2>&1; then
    if [ "${MNIST_CL_REQUIRE_DEVICE:-0}" = 1 ]; then
        echo "oclgrind is not installed (tools/setup installs it)" >&2
        exit 1
    fi
    echo "oclgrind is not installed: skipped (tools/setup installs it)"
    exit 77
fi
log=$(mktemp "${TMPDIR:-/tmp}/mnistcl-oclgrind-XXXXXX")
trap 'rm -f "$log"' EXIT
# shellcheck disable=SC2086
oclgrind $flags --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
    echo "oclgrind reported $(grep -c . "$log") lines; the first 60:"
    head -60 "$log"
    exit 1
fi
[ $rc -eq 0 ] || echo "the program failed under oclgrind (exit $rc)"
exit $rc
