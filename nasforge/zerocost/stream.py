"""Scoring many NB201 archs into a benchmark store: a resumable, memory-flat stream.

Each scored (dataset, arch) is appended to a journal beside the store (``<STORE>.zc-journal.jsonl``, one JSON line,
flushed and fsynced) as soon as it is done, so a killed run (even ``kill -9``) loses at most the arch in flight;
``resume=True`` continues from the journal. Every ``flush_every`` archs and at the end, the journal is merged into
the store as the metrics ``zc_<proxy>`` (the score) and ``zc_<proxy>_time`` (CPU seconds for that arch) through
:class:`~nasforge.benchmarks.builder.StoreBuilder` (a new store renamed over the old one), so ``bench query`` and
searches see them. After the final merge the journal is removed. Memory stays flat: one network at a time, the
journal is read line by line, and the store's columns are the only arrays (15,625 floats each).

Archs whose scores the store already holds, made with the same seed and batch size, are skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.benchmarks.store import ZC_JOURNAL_SUFFIX as JOURNAL_SUFFIX
from nasforge.errors import ConfigError, ProxyError

JOURNAL_KIND = "nasforge-zc-journal"
PROVENANCE = "zc-score"


@dataclass(frozen=True)
class ScoreSettings:
    """What makes two scoring runs' values comparable: proxies, datasets, seed (weights and batch), batch size."""

    proxies: tuple[str, ...]
    datasets: tuple[str, ...]
    seed: int = 0
    batch_size: int = 64

    def __post_init__(self) -> None:
        from nasforge.benchmarks.metrics import DATASETS
        from nasforge.zerocost import DATA_FREE, IMAGE_DATASETS, parse_proxies

        object.__setattr__(self, "proxies", parse_proxies(list(self.proxies)))
        if not self.datasets:
            raise ConfigError("no dataset given; pass --dataset cifar10 (or a comma-separated list)")
        needs_images = [p for p in self.proxies if p not in DATA_FREE]
        for ds in self.datasets:
            if ds not in DATASETS:
                raise ConfigError(f"unknown dataset {ds!r}; NB201 has {', '.join(DATASETS)}")
            if needs_images and ds not in IMAGE_DATASETS:
                raise ConfigError(
                    f"{', '.join(needs_images)} need{'s' if len(needs_images) == 1 else ''} images, and the data "
                    f"directory has no {ds} images (CIFAR-10 only); on {ds} use the data-free proxies "
                    f"({', '.join(DATA_FREE)})"
                )
        if self.batch_size < 2:
            raise ConfigError(f"batch size must be at least 2, got {self.batch_size}")


def journal_path(store: str | os.PathLike) -> Path:
    path = Path(store)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def _read_journal(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The journal's settings and an iterator over its records (a torn last line, from a kill, is skipped)."""
    f = path.open("r", encoding="utf-8")
    try:
        head = json.loads(f.readline())
        if not isinstance(head, dict) or head.get("kind") != JOURNAL_KIND:
            raise ValueError
    except ValueError:
        f.close()
        raise ConfigError(f"{path} is not a zc journal; move it away or pass another --out") from None

    def records() -> Iterator[dict[str, Any]]:
        with f:
            for line in f:
                if line.endswith("\n"):
                    yield json.loads(line)

    return head["settings"], records()


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (a killed write) so appends start on a fresh line."""
    with path.open("rb+") as f:
        data_end = f.seek(0, os.SEEK_END)
        pos = data_end
        while pos > 0:
            step = min(4096, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(pos - step + cut + 1)
                return
            pos -= step


def _store_settings(provenance: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The seed and batch size of the zc scores a store holds (``None``: it holds none)."""
    for entry in reversed(provenance):
        if entry.get("importer") == PROVENANCE:
            return {"seed": entry.get("seed"), "batch_size": entry.get("batch_size")}
    return None


def score_archs(
    indices: Sequence[int],
    settings: ScoreSettings,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    flush_every: int = 500,
    on_arch: Callable[[int, dict[str, dict[str, float]]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    C: int = 16,
    N: int = 5,
) -> dict[str, Any]:
    """Score the NB201 archs ``indices`` (official indices) with ``settings`` into the store at ``out``.

    ``out`` may be an existing store (the scores are added to it) or a new path (a store of scores only).
    ``on_start(n)`` is called once with the number of archs left to score, ``on_arch(index, {dataset: scores})``
    after each of them (progress). Returns a summary: archs scored
    now, skipped (already in the store), and the store path. Raises :class:`ConfigError` for a journal left
    without ``resume`` or made with other settings, :class:`ProxyError` naming the arch of a non-finite score.
    """
    from nasforge.benchmarks.store import open_store
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.zerocost import data_batch, nb201_network, score, shape_batch

    out = Path(out)
    journal = journal_path(out)
    mine = asdict(settings)
    mine["proxies"], mine["datasets"] = list(settings.proxies), list(settings.datasets)
    if journal.exists() and not resume:
        raise ConfigError(f"{journal} holds an unfinished zc score run; pass --resume to continue it")
    if resume and journal.exists():
        theirs, _ = _read_journal(journal)
        if theirs != mine:
            diff = [k for k in mine if theirs.get(k) != mine[k]]
            raise ConfigError(
                f"--resume: the journal {journal} was made with other settings ({', '.join(diff)}: "
                f"{', '.join(f'{theirs.get(k)} vs {mine[k]}' for k in diff)}); rerun with the same ones"
            )
    store = open_store(out) if (out / "manifest.json").exists() else None
    done: set[tuple[str, int]] = set()
    if store is not None:
        held = _store_settings(store.provenance)
        if held is not None and held != {"seed": settings.seed, "batch_size": settings.batch_size}:
            raise ConfigError(
                f"{out} holds zc scores made with seed {held['seed']}, batch {held['batch_size']}; score with those "
                "or write to another --out"
            )
        for ds in settings.datasets:
            if ds in store.datasets and all(f"zc_{p}" in store.metrics(ds) for p in settings.proxies):
                have = np.ones(store.num_archs, bool)
                for p in settings.proxies:
                    have &= ~np.isnan(store.query_many(np.arange(store.num_archs), ds, f"zc_{p}", missing="nan"))
                done |= {(ds, int(i)) for i in np.flatnonzero(have)}
        store.close()
    batches = {}
    data_free = all(p in _data_free() for p in settings.proxies)
    for ds in settings.datasets:  # before the journal exists: a missing data directory leaves nothing behind
        batches[ds] = shape_batch(ds, settings.batch_size) if data_free else data_batch(
            ds, settings.batch_size, settings.seed, data_dir)  # fmt: skip
    created = not journal.exists()
    with journal.open("a+", encoding="utf-8") as f:
        try:  # one run per store: a second one (or a --resume beside a live run) would interleave the journal
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another zc score run is writing into {out} now (it holds {journal}); wait for it"
            ) from None
        if created:
            f.write(json.dumps({"kind": JOURNAL_KIND, "settings": mine}) + "\n")
            f.flush()
        else:
            _repair_tail(journal)
            f.seek(0, os.SEEK_END)
            for rec in _read_journal(journal)[1]:
                done.add((rec["ds"], int(rec["i"])))
        todo = [i for i in indices if any((ds, int(i)) not in done for ds in settings.datasets)]
        if on_start is not None:
            on_start(len(todo))
        scored = 0
        for index in todo:
            arch = NB201Arch.from_index(int(index))
            result: dict[str, dict[str, float]] = {}
            for ds in settings.datasets:
                if (ds, int(index)) in done:
                    continue
                net = nb201_network(arch, ds, settings.seed, C=C, N=N)
                times: dict[str, float] = {}
                try:
                    values = score(net, batches[ds], settings.proxies, seed=settings.seed, times=times)
                except ProxyError as exc:
                    raise ProxyError(f"arch {index} ({arch.to_string()}) on {ds}: {exc}") from None
                f.write(json.dumps({"i": int(index), "ds": ds, "v": values, "t": times}) + "\n")
                f.flush()
                os.fsync(f.fileno())
                result[ds] = values
            scored += 1
            if on_arch is not None:
                on_arch(int(index), result)
            if scored % flush_every == 0:
                merge_journal(out, settings)
        merge_journal(out, settings)
        journal.unlink()  # still holding the lock: the merged journal is never seen by a next run
    return {"store": str(out), "scored": scored, "skipped": len(indices) - len(todo), "archs": len(indices)}


def _data_free() -> tuple[str, ...]:
    from nasforge.zerocost import DATA_FREE

    return DATA_FREE


def merge_journal(out: Path, settings: ScoreSettings) -> None:
    """Write the journal's scores into the store at ``out`` (created if absent) as ``zc_<proxy>[_time]``."""
    from nasforge.benchmarks.builder import StoreBuilder
    from nasforge.benchmarks.store import open_store

    exists = (out / "manifest.json").exists()
    if exists:
        with open_store(out) as store:
            builder = StoreBuilder.from_store(store)
    else:
        builder = StoreBuilder()
    columns: dict[tuple[str, str], np.ndarray] = {}
    _, records = _read_journal(journal_path(out))
    for rec in records:
        for kind, key in (("v", ""), ("t", "_time")):
            for proxy, value in rec[kind].items():
                col = columns.setdefault((rec["ds"], f"zc_{proxy}{key}"), np.full(builder.num_archs, np.nan))
                col[int(rec["i"])] = value
    if not columns:
        return
    for (ds, metric), col in columns.items():
        keep = np.flatnonzero(~np.isnan(col))
        builder.set_scalar(ds, metric, keep, col[keep])
    if _store_settings(builder.provenance) is None:
        builder.add_provenance(PROVENANCE, None, seed=settings.seed, batch_size=settings.batch_size,
                               network="NB201 C=16 N=5, PyTorch default init from the seed")  # fmt: skip
    builder.write(out, overwrite=exists)
