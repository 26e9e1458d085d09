"""Launchers re-execute with glibc's huge-page tunable when it helps, and only then."""

import json
import os
import subprocess
import sys
import textwrap

from ocg_jax.platform import hugepages

GOOD = {"glibc": (2, 36), "thp_mode": "madvise"}


def test_env_appends_the_tunable_to_the_users():
    env = hugepages.huge_page_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "A": "b"}, **GOOD)
    assert env == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{hugepages.TUNABLE}", "A": "b"}
    assert hugepages.huge_page_env({}, **GOOD) == {"GLIBC_TUNABLES": hugepages.TUNABLE}


def test_no_reexec_when_it_cannot_help_or_is_not_wanted():
    assert hugepages.huge_page_env({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, **GOOD) is None
    assert hugepages.huge_page_env({hugepages.OPT_OUT: "1"}, **GOOD) is None
    assert hugepages.huge_page_env({hugepages.OPT_OUT: "0"}, **GOOD) is not None
    assert hugepages.huge_page_env({}, glibc=(2, 34), thp_mode="madvise") is None
    assert hugepages.huge_page_env({}, glibc=None, thp_mode="madvise") is None  # musl, macOS
    for mode in ("always", "never", None):
        assert hugepages.huge_page_env({}, glibc=(2, 36), thp_mode=mode) is None


def test_thp_mode_reads_the_bracketed_choice(tmp_path):
    path = tmp_path / "enabled"
    path.write_text("always [madvise] never\n")
    assert hugepages._thp_mode(str(path)) == "madvise"
    path.write_text("[always] madvise never\n")
    assert hugepages._thp_mode(str(path)) == "always"
    assert hugepages._thp_mode(str(tmp_path / "missing")) is None


def test_reexec_keeps_the_command_and_gives_huge_pages():
    """A script that calls ``reexec_with_huge_pages`` first runs again with the tunable and its
    arguments, and a large array then sits on huge pages; where the machine cannot help, it
    runs once, unchanged."""
    code = textwrap.dedent(
        """
        import ctypes, json, os, sys
        from ocg_jax.platform.hugepages import reexec_with_huge_pages
        print("start", flush=True)
        reexec_with_huge_pages()
        libc = ctypes.CDLL(None)  # plain malloc: numpy would madvise huge pages itself
        libc.malloc.restype = ctypes.c_void_p
        ctypes.memset(libc.malloc(64 << 20), 1, 64 << 20)
        with open("/proc/self/smaps_rollup") as f:
            huge = [int(l.split()[1]) for l in f if l.startswith("AnonHugePages:")]
        print(json.dumps({"argv": sys.argv[1:], "tunables": os.environ.get("GLIBC_TUNABLES"),
                          "huge_kb": huge[0] if huge else 0}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", hugepages.OPT_OUT)}
    out = subprocess.run(
        [sys.executable, "-c", code, "--flag=1", "x"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    result = json.loads(out[-1])
    assert result["argv"] == ["--flag=1", "x"]
    if hugepages.huge_page_env(env) is not None:  # Linux, glibc >= 2.35, THP on madvise
        assert out.count("start") == 2, out
        assert result["tunables"] == hugepages.TUNABLE
        assert result["huge_kb"] >= 2048, result
    else:
        assert out.count("start") == 1, out
        assert result["tunables"] is None
