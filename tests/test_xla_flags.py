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


def test_simulated_devices_get_threads(fresh):
    fresh.delenv("PJRT_NPROC", raising=False)
    fresh.delenv("NPROC", raising=False)
    fresh.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert xla_flags._devices_from_env(os.environ) == 3
    assert xla_flags.cpu_threads_for(3, cores=2) == 6
    assert xla_flags.cpu_threads_for(3, cores=16) == 16
    xla_flags.set_cpu_flags()
    assert int(os.environ["PJRT_NPROC"]) >= 6
    fresh.setenv("PJRT_NPROC", "5")  # the user's setting stays
    assert xla_flags.set_cpu_threads(4) is None and os.environ["PJRT_NPROC"] == "5"
    fresh.delenv("PJRT_NPROC")
    assert xla_flags.set_cpu_threads(1) is None and "PJRT_NPROC" not in os.environ


@pytest.mark.optimised
def test_two_devices_run_many_cheap_data_parallel_steps():
    """300 small data-parallel steps on two CPU devices, nothing synced between them: with
    XLA's default pools (2 threads on 2 cores) jaxlib 0.10.2 deadlocked in the all-reduce
    and aborted the process; with ``import ocg_jax`` it must finish."""
    code = textwrap.dedent(
        """
        import ocg_jax
        import jax, jax.numpy as jnp, numpy as np, optax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        mesh = Mesh(np.array(jax.devices()), ("data",))
        rep, shard = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
        dn = ("NHWC", "HWIO", "NHWC")
        def net(p, x):
            for w in p["convs"]:
                x = jax.nn.relu(jax.lax.conv_general_dilated(x, w, (2, 2), "SAME",
                                                             dimension_numbers=dn))
            return x.reshape(x.shape[0], -1) @ p["dense"]
        ks = jax.random.split(jax.random.PRNGKey(0), 5)
        c = [3, 32, 64, 128, 128]
        p = {"convs": [0.1 * jax.random.normal(ks[i], (3, 3, c[i], c[i + 1])) for i in range(4)],
             "dense": 0.1 * jax.random.normal(ks[4], (512, 10))}
        tx = optax.adam(1e-3)
        def step(state, x, y):
            p, o = state
            xent = lambda p: optax.softmax_cross_entropy_with_integer_labels(net(p, x), y).mean()
            loss, g = jax.value_and_grad(xent)(p)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o), loss
        step = jax.jit(step, donate_argnums=0, out_shardings=(rep, rep))
        state = jax.device_put((p, tx.init(p)), rep)
        rng = np.random.default_rng(0)
        x, y = rng.random((64, 32, 32, 3), np.float32), rng.integers(0, 10, 64)
        for _ in range(300):
            i = rng.integers(0, 64, 64)
            state, loss = step(state, jax.device_put(x[i], shard), jax.device_put(y[i], shard))
        print("done", float(loss))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "NPROC", "XLA_FLAGS")}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-2000:]
