"""tfds data source -> grain -> global ``jax.Array`` batches sharded over ``('data',)``.

    source = load_source("multi_dsprites", "tiny", "train", data_dir)
    loader = ShardedLoader(source, batch_size=32, sharding=batch_sharding(mesh), seed=0)
    batch = next(loader)  # {"image": uint8 [32, 64, 64, 3]} spread over devices

The loader's position is ``loader.get_state()`` / ``set_state`` (JSON-able);
the train loop checkpoints it with the train state.
"""

import collections
import contextlib
import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import get_builder


def load_source(
    name: str,
    config: str | None,
    split: str,
    data_dir: str | None = None,
    prepare: bool = True,
    manual_dir: str | None = None,
):
    """Random-access source of one split; builds procedural datasets if asked, and
    converts the files a user has put in ``manual_dir`` (``multi_object``).

    Raises ``FileNotFoundError`` naming the directory when the dataset is not
    prepared and ``prepare`` is False, and ``DamagedDataError`` (one line: the file, and
    how to make the dataset again) when a file of the split is cut short or, once read,
    damaged.
    """
    builder = _quietly(get_builder, name, config, data_dir)
    if not _quietly(builder.is_prepared):
        if not prepare:
            raise FileNotFoundError(
                f"dataset {name}/{config} is not prepared in {builder.data_dir}; set "
                "config.data.prepare=True to generate it, or point config.data.data_dir "
                "at the directory that holds it"
            )
        what = f"reading your files in {manual_dir}" if manual_dir else "generating it"
        print(f"dataset {name}/{config} is not in {builder.data_dir} yet: {what} (nothing is "
              "downloaded)", flush=True)  # fmt: skip
        _prepare(builder, manual_dir)
    splits = list(builder.info.splits.keys())
    if split not in splits:
        raise ValueError(f"dataset {name}/{config} has no split {split!r}; it has {splits}")
    where = f"{name}/{config} in {builder.data_dir}"
    redo = f"delete it (rm -r {builder.data_dir}) and run again: it is made anew"
    info = builder.info.splits[split]
    for path, length in zip(info.filepaths, info.shard_lengths, strict=True):
        found = _records(str(path))
        if found != length:
            raise DamagedDataError(
                f"dataset {where} is damaged: {path} holds {found} of its {length} examples; "
                + redo
            )
    return CheckedSource(builder.as_data_source(split=split), f"dataset {where}", redo)


class DamagedDataError(ValueError):
    """A dataset's files are cut short or damaged."""


def _records(path: str) -> int:
    """Examples in one array_record file (0 when it cannot be opened: cut short)."""
    from array_record.python.array_record_module import ArrayRecordReader

    try:
        return ArrayRecordReader(path).num_records()
    except (RuntimeError, OSError, ValueError):
        return 0


class CheckedSource:
    """A tfds data source whose damaged records raise ``DamagedDataError`` (array_record's
    own error names neither the file nor what to do)."""

    def __init__(self, source, where: str, redo: str):
        self._source, self._where, self._redo = source, where, redo

    def __len__(self) -> int:
        return len(self._source)

    def _read(self, fn, key):
        try:
            return fn(key)
        except RuntimeError as e:
            if "Riegeli" not in str(e):
                raise
            raise DamagedDataError(
                f"{self._where} is damaged ({str(e).split(';')[0]}); {self._redo}"
            ) from None

    def __getitem__(self, index):
        return self._read(self._source.__getitem__, index)

    def __getitems__(self, indices):
        return self._read(self._source.__getitems__, indices)


def _prepare(builder, manual_dir) -> None:
    """``download_and_prepare``; a failed one leaves behind no folder it made (tfds writes
    the dataset to ``incomplete.*`` and renames it when done)."""
    root = Path(builder.data_dir_root)
    made = [p for p in (root, root / builder.name, root / "downloads") if not p.exists()]
    try:
        config = tfds.download.DownloadConfig(manual_dir=manual_dir)
        _quietly(builder.download_and_prepare, download_config=config)
    except BaseException:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _quietly(fn, *args, **kwargs):
    """``fn(...)`` without tfds's download wording ("Downloading and preparing dataset", on
    stdout) and its warning that a new dataset has no ``dataset_info.json`` yet.  Its
    progress bars stay on a terminal; elsewhere (a log file, a notebook) their redraws
    would flood stderr, so they are off."""
    if not sys.stderr.isatty():
        tfds.disable_progress_bar()
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(*args, **kwargs)
    finally:
        logger.setLevel(level)


def load_examples(
    source, num: int, keys=None, start: int = 0, missing_ok: bool = False
) -> dict[str, np.ndarray]:
    """The first ``num`` examples of a tfds data source from ``start``, stacked per key
    (``keys`` the examples lack are left out with ``missing_ok``, else an error)."""
    if num > len(source) - start:
        raise ValueError(f"asked for {num} examples from {start}, the split has {len(source)}")
    rows = [source[i] for i in range(start, start + num)]
    keys = list(rows[0].keys() if keys is None else keys)
    missing = [k for k in keys if k not in rows[0]]
    if missing and not missing_ok:
        raise KeyError(f"examples have no field(s) {missing}; they have {sorted(rows[0])}")
    return {k: np.stack([r[k] for r in rows]) for k in keys if k not in missing}


class _ProcessRows(grain.MapDataset):
    """This process's rows of every global batch: element ``j`` is the parent's
    ``(j // local) * batch + offset + j % local``.  Every process walks the same global
    order, so the global batches do not depend on the number of processes."""

    def __init__(self, parent: grain.MapDataset, batch: int, local: int, offset: int):
        super().__init__(parent)
        self._batch, self._local, self._offset = batch, local, offset

    def __len__(self) -> int:
        return len(self._parent) // self._batch * self._local

    def _index(self, j: int) -> int:
        return (j // self._local) * self._batch + self._offset + j % self._local

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        return self._parent[self._index(index)]


def default_num_threads() -> int:
    """Host threads that read and decode examples: one per core, at most 16."""
    return max(1, min(16, os.cpu_count() or 1))


class ShardedLoader:
    """Iterator of global batches: grain ``MapDataset`` -> process-local numpy -> jax.Array.

    The (seeded, shuffled, repeated) source is cut into global batches of
    ``batch_size``; each process reads and decodes only its own contiguous
    ``batch_size / process_count`` rows of each (on ``num_threads`` threads, default
    one per core) and the loader assembles them into a ``jax.Array`` sharded on its
    first axis.  The next ``device_prefetch`` batches are already on their way to
    the devices while a step runs; ``get_state`` is the position of the first batch
    not yet handed out, so a checkpoint never skips what was prefetched.
    """

    def __init__(
        self,
        source,
        *,
        batch_size: int,
        sharding: jax.sharding.NamedSharding,
        seed: int = 0,
        shuffle: bool = True,
        repeat: bool = True,
        fields: Sequence[str] = ("image",),
        num_threads: int | None = None,
        prefetch: int = 4,
        device_prefetch: int = 2,
    ):
        n_proc = jax.process_count()
        num_shards = sharding.mesh.size
        if batch_size % num_shards or batch_size % n_proc:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of "
                f"devices ({num_shards}) and processes ({n_proc})"
            )
        if len(source) < batch_size:
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(source)} examples of the split"
            )
        self.sharding = sharding
        self.fields = tuple(fields)
        local = batch_size // n_proc
        ds = grain.MapDataset.source(source).seed(seed)
        if shuffle:
            ds = ds.shuffle()
        if repeat:
            ds = ds.repeat()
        if n_proc > 1:
            ds = _ProcessRows(ds, batch_size, local, jax.process_index() * local)
        ds = ds.map(self._select).batch(local, drop_remainder=True)
        threads = default_num_threads() if not num_threads else num_threads
        self._dataset = ds.to_iter_dataset(
            grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch)
        )
        self._iter = iter(self._dataset)
        self._depth = device_prefetch
        self._queue: collections.deque = collections.deque()  # (state before it, batch)

    def _select(self, example: dict) -> dict:
        missing = [f for f in self.fields if f not in example]
        if missing:
            raise KeyError(
                f"dataset examples have no field(s) {missing}; they have {sorted(example)}"
            )
        return {f: np.asarray(example[f]) for f in self.fields}

    def _fetch(self) -> None:
        state = self._iter.get_state()
        local = next(self._iter)
        batch = {
            k: jax.make_array_from_process_local_data(self.sharding, v) for k, v in local.items()
        }  # the copies to the devices start now; nothing waits for them
        self._queue.append((state, batch))

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, jax.Array]:
        while len(self._queue) <= self._depth:
            self._fetch()
        return self._queue.popleft()[1]

    def get_state(self) -> dict:
        """JSON-able position of the first batch not yet returned."""
        state = self._queue[0][0] if self._queue else self._iter.get_state()
        return json.loads(json.dumps(state, default=_jsonable))

    def set_state(self, state: dict) -> None:
        self._queue.clear()
        self._iter.set_state(state)


def _jsonable(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, bytes):
        return obj.decode()
    raise TypeError(f"cannot store {type(obj)} in the loader state")
