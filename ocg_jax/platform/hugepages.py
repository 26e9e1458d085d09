"""Transparent huge pages for XLA:CPU's buffers, via glibc's malloc tunable.

XLA:CPU allocates the temporary buffer of a compiled step (2.7 GB for GENESIS at
batch 32) afresh on every call.  glibc serves that from a new ``mmap``, so each
step the kernel faults in and zeroes 650,000 4 KiB pages: about 2-3 s of CPU
time per GENESIS step on a 2-core machine.  With ``glibc.malloc.hugetlb=1``
glibc asks for transparent huge pages on such mappings (2 MiB pages: ~2,300
faults per step); the step got 14-44% faster in paired runs
(docs/performance.md has the measurements).

glibc reads its tunables only when a process starts, so the launchers in
``experiments/`` call ``reexec_with_huge_pages()`` first thing: it re-executes
the same command with ``GLIBC_TUNABLES`` extended, when that can help (Linux,
glibc >= 2.35, THP in ``madvise`` mode) and the user has not set the tunable or
``OCG_JAX_NO_REEXEC=1``.  Library users (notebooks, their own scripts) start
Python with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` themselves.
"""

import os
import sys
from collections.abc import Mapping

TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT = "OCG_JAX_NO_REEXEC"
_THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
_THIS_MACHINE = object()


def _glibc_version() -> tuple[int, int] | None:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.36"
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, OSError, ValueError):  # not glibc / not Linux
        return None


def _thp_mode(path: str = _THP_ENABLED) -> str | None:
    """The bracketed mode of ``always [madvise] never``, or None if unreadable."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else None


def huge_page_env(
    environ: Mapping[str, str],
    glibc=_THIS_MACHINE,
    thp_mode=_THIS_MACHINE,
) -> dict[str, str] | None:
    """The environment to re-execute with, or None when re-executing would not help.

    ``glibc`` (``(major, minor)`` or None) and ``thp_mode`` (``"madvise"``, ... or None)
    default to this machine's."""
    if environ.get(OPT_OUT, "") not in ("", "0"):
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:  # the user's choice, or we already re-executed
        return None
    glibc = _glibc_version() if glibc is _THIS_MACHINE else glibc
    thp_mode = _thp_mode() if thp_mode is _THIS_MACHINE else thp_mode
    # hugetlb=1 exists from glibc 2.35; THP "always" needs no madvise, "never" gives none
    if glibc is None or glibc < (2, 35) or thp_mode != "madvise":
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(t for t in (tunables, TUNABLE) if t)}


def reexec_with_huge_pages() -> None:
    """Re-execute this Python command with ``GLIBC_TUNABLES`` asking for huge pages.

    Returns (does nothing) when ``huge_page_env`` says it would not help; otherwise
    never returns.  Call it before the program does any work."""
    env = huge_page_env(os.environ)
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
