"""What a workdir says about resuming it, read without JAX: the manifest of each
checkpoint's files, the settings a resumed run may change, and whether the run is
already complete (so ``experiments.train`` can say so in a fraction of a second).

A checkpoint's manifest (``ocg_manifest.json`` in its folder: every file's size and
CRC32C) is written when the checkpoint is finished and checked before orbax reads a byte.
"""

import json
from pathlib import Path

import google_crc32c
import ml_collections

MANIFEST = "ocg_manifest.json"

#: config entries a resumed run may change (the rest would not continue the same run)
RESUMABLE = (
    "num_steps", "log_every", "eval_every", "eval_images", "checkpoint_every", "max_to_keep",
    "evaluators", "keep_best", "data.data_dir", "data.prepare", "data.manual_dir",
    "data.num_threads", "data.device_prefetch",
)  # fmt: skip


class ResumeConfigError(ValueError):
    """A run resumed with settings that may not change."""


def differences(stored, now, prefix: str = "") -> list[str]:
    """``"key: stored A, now B"`` for each (dotted) key whose value differs; nested dicts
    compared key by key."""
    if isinstance(stored, dict) and isinstance(now, dict):
        out = []
        for k in sorted(set(stored) | set(now), key=str):
            missing = object()
            a, b = stored.get(k, missing), now.get(k, missing)
            if a is missing or b is missing:
                which = "stored" if b is missing else "now"
                out.append(f"{prefix}{k}: only {which} ({a if b is missing else b!r})")
            else:
                out += differences(a, b, f"{prefix}{k}.")
        return out
    return [] if stored == now else [f"{prefix[:-1]}: stored {stored!r}, now {now!r}"]


def json_config(config: ml_collections.ConfigDict) -> str:
    """The config as ``config.json`` holds it."""
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def check_resumable(stored: dict, config: ml_collections.ConfigDict, workdir) -> None:
    """Raise ``ResumeConfigError`` listing the keys that differ from the run's
    ``config.json`` (``stored``), unless all are in ``RESUMABLE``.  Keys the stored config
    lacks (added by a newer ocg_jax) are not compared."""
    now = json.loads(json_config(config))
    diff = [d for d in differences(stored, now) if not d.startswith(RESUMABLE)]
    diff = [d for d in diff if ": only now " not in d]
    if diff:
        raise ResumeConfigError(
            f"{workdir} was trained with other settings: {'; '.join(diff)}. On resume only "
            f"{', '.join(RESUMABLE)} may change; give a fresh --workdir to train anew"
        )


def _crc32c(path: Path) -> str:
    crc = google_crc32c.Checksum()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            crc.update(chunk)
    return crc.hexdigest().decode()


def write_manifest(step_dir: Path) -> None:
    """``step_dir/ocg_manifest.json``: ``{relative path: [size, crc32c]}`` of its files."""
    files = sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = {str(p.relative_to(step_dir)): [p.stat().st_size, _crc32c(p)] for p in files}
    tmp = step_dir / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(entries))
    tmp.replace(step_dir / MANIFEST)


def check_files(step_dir: Path) -> str | None:
    """Why the checkpoint in ``step_dir`` cannot be read, or None if its files are whole
    (None too for one without a manifest: written before manifests, or cut short before
    its manifest, which orbax then reads)."""
    if not step_dir.is_dir() or not any(step_dir.iterdir()):
        return "its folder is empty"
    path = step_dir / MANIFEST
    if not path.exists():
        return None
    try:
        entries = json.loads(path.read_text())
    except ValueError:
        return f"its {MANIFEST} is damaged"
    for name, (size, crc) in entries.items():
        f = step_dir / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != size:
            return f"{name} is cut short ({f.stat().st_size} of {size} bytes)"
        if _crc32c(f) != crc:
            return f"{name} is damaged (its checksum differs)"
    return None


def completed_step(workdir: str | Path, config: ml_collections.ConfigDict) -> int | None:
    """The step of ``workdir``'s newest checkpoint when the run is complete for ``config``
    (that checkpoint's manifest whole, at or past ``config.num_steps``, the settings
    resumable); None when it is not, or this cannot tell without reading the checkpoint.
    Raises ``ResumeConfigError`` for settings that may not change."""
    workdir = Path(workdir)
    ckpts, stored = workdir / "checkpoints", workdir / "config.json"
    if not stored.is_file() or not ckpts.is_dir():
        return None
    check_resumable(json.loads(stored.read_text()), config, workdir)
    steps = sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())
    if not steps or steps[-1] < config.num_steps:
        return None
    latest = ckpts / str(steps[-1])
    whole = (latest / MANIFEST).exists() and check_files(latest) is None
    return steps[-1] if whole else None
