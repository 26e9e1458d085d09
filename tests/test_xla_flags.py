"""ocg_jax's CPU XLA flags: set on import, never over the user's own, and in effect."""

import os
import subprocess
import sys
import textwrap

import pytest

from ocg_jax.platform import xla_flags

FLAG = xla_flags.CPU_FLAGS[0].split("=")[0]


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(xla_flags, "_backend_started", lambda: False)
    monkeypatch.delenv(xla_flags.OPT_OUT, raising=False)
    return monkeypatch


def test_flags_are_appended_to_the_users(fresh):
    fresh.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert xla_flags.set_cpu_flags() == list(xla_flags.CPU_FLAGS)
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=3",
        *xla_flags.CPU_FLAGS,
    ]
    assert xla_flags.set_cpu_flags() == []  # idempotent


def test_a_flag_the_user_set_is_kept_and_opt_out_adds_nothing(fresh):
    fresh.setenv("XLA_FLAGS", f"{FLAG}=individual_dot")
    assert xla_flags.set_cpu_flags() == []
    assert os.environ["XLA_FLAGS"] == f"{FLAG}=individual_dot"
    fresh.delenv("XLA_FLAGS")
    fresh.setenv(xla_flags.OPT_OUT, "1")
    assert xla_flags.set_cpu_flags() == []
    assert "XLA_FLAGS" not in os.environ


def test_a_started_backend_gives_a_warning_not_a_silent_no_op(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(xla_flags.OPT_OUT, raising=False)
    monkeypatch.setattr(xla_flags, "_backend_started", lambda: True)
    with pytest.warns(UserWarning, match="not in effect"):
        assert xla_flags.set_cpu_flags() == []


def test_import_routes_convolutions_to_xla_not_ynnpack():
    """In a fresh process, ``import ocg_jax`` keeps convs out of YNNPACK fusions (and without
    it, this jaxlib does put them there, so the check can fail)."""
    code = textwrap.dedent(
        """
        import sys
        if sys.argv[1] == "1":
            import ocg_jax
        import jax, jax.numpy as jnp
        conv = lambda x, w: jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x, w = jnp.ones((8, 64, 64, 32)), jnp.ones((5, 5, 32, 64))
        hlo = jax.jit(conv).lower(x, w).compile().as_text()
        print("ynn" if "__ynn_fusion" in hlo else "xla")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_flags.OPT_OUT)}
    runs = {
        imp: subprocess.run(
            [sys.executable, "-c", code, imp], env=env, capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for imp in ("0", "1")
    }
    assert runs == {"0": "ynn", "1": "xla"}
