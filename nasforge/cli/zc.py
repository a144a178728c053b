"""``nasforge zc``: zero-cost proxies for NB201 archs, scored into a benchmark store and measured against it.

nasforge zc score --space nb201 --dataset cifar10 --proxies synflow,nwot --archs 1000 --out STORE [--resume]
nasforge zc score --dataset cifar10,cifar100,ImageNet16-120 --proxies data-free --archs all --out STORE
nasforge zc correlate --dataset cifar10 --proxies synflow,jacob_cov --archs 1000 --seed 0 [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import Progress, add_data_dir, add_json_flag, emit, json_safe
from nasforge.errors import ConfigError, NasforgeError, ProxyError

NUM_ARCHS = 15_625


def register(subparsers: argparse._SubParsersAction) -> None:
    zc = subparsers.add_parser("zc", help="zero-cost proxies: score archs into a store, correlate with accuracy")
    sub = zc.add_subparsers(title="zc commands", metavar="COMMAND", parser_class=type(zc))
    sub.required = True

    p = sub.add_parser("score", help="score NB201 archs with zero-cost proxies into a store (metrics zc_<proxy>)")
    _add_common(p)
    p.add_argument("--out", default=None, metavar="STORE", help="store to add the scores to (default: --store's)")
    p.add_argument("--resume", action="store_true", help="continue the run whose journal is beside --out")
    p.add_argument("--flush-every", type=argtypes.int_range(1, 15_625), default=500, help="archs between store writes")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("correlate", help="Spearman/Kendall of proxies with NB201 accuracy, and vs published scores")
    _add_common(p)
    p.add_argument("--target", default="test_acc", help="store metric to correlate with (default test_acc)")
    p.add_argument("--out", default=None, metavar="STORE", help="store holding/receiving the scores (default --store)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted scoring run")
    p.set_defaults(func=cmd_correlate)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", choices=("nb201",), help="search space (NB201's 15,625 cells)")
    p.add_argument("--dataset", required=True, help="NB201 dataset(s), comma-separated")
    p.add_argument("--proxies", required=True, help="comma-separated proxy names, 'all' or 'data-free'")
    p.add_argument("--archs", required=True, help="'all', a count N (random, by --seed), or a FILE of archs")
    p.add_argument("--seed", type=argtypes.seed, default=0, help="weights, batch and arch sample (default 0)")
    p.add_argument("--batch-size", type=argtypes.int_range(2, 4096), default=64, help="images per batch (64)")
    p.add_argument("--store", default=None, help="NB201 store (default: $NASFORGE_STORE, else from the data)")
    add_data_dir(p)
    add_json_flag(p)


def arch_indices(spec: str, seed: int, dataset: str | None = None, data_dir: Any = None) -> list[int]:
    """Official indices for ``--archs``: 'all', N random ones (the first N of a ``seed``-permutation), 'naslib'
    (NASLib's scored subset of ``dataset``), or a file with one arch string or index per line."""
    from nasforge.spaces.nb201 import NB201Arch

    if spec == "all":
        return list(range(NUM_ARCHS))
    if spec == "naslib":
        from nasforge import paths
        from nasforge.zerocost.reference import naslib_scores

        return sorted(naslib_scores(paths.require_data_dir(data_dir), dataset or "cifar10")["params"])
    if spec.isdigit():
        n = int(spec)
        if not 1 <= n <= NUM_ARCHS:
            raise ConfigError(f"--archs {n}: a count must be between 1 and {NUM_ARCHS}")
        # A prefix of one seeded permutation: the first 100 of --archs 1000 are --archs 100, and a long run scores
        # in this order, so a partial run already covers every smaller sample of the same seed.
        return np.random.default_rng(seed).permutation(NUM_ARCHS)[:n].tolist()
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--archs {spec!r} is not 'all', 'naslib', a count, or an existing file of archs")
    out = []
    for k, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        text = line.strip()
        if text and not text.startswith("#"):
            try:
                out.append(NB201Arch.from_any(text).index)
            except NasforgeError as exc:
                raise ConfigError(f"{path}:{k}: {exc}") from None
    if not out:
        raise ConfigError(f"{path} names no archs (one arch string or index per line)")
    return list(dict.fromkeys(out))


def _settings(args: argparse.Namespace) -> Any:
    from nasforge.zerocost.stream import ScoreSettings

    datasets = tuple(d.strip() for d in args.dataset.split(",") if d.strip())
    return ScoreSettings(tuple(args.proxies.split(",")), datasets, seed=args.seed, batch_size=args.batch_size)


def _out_store(args: argparse.Namespace) -> Path:
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not (out / "manifest.json").is_file():
            raise ConfigError(f"--out {out} exists but is not a benchmark store; name a store or a new directory")
        return out
    from nasforge.benchmarks import load_nb201

    with load_nb201(args.data_dir, args.store) as store:
        return store.path


def _run_scoring(args: argparse.Namespace, settings: Any, indices: list[int], out: Path) -> dict[str, Any]:
    from nasforge.zerocost.stream import score_archs

    bars: list[Progress] = []  # made once the run knows how many archs are left (a resumed run has fewer)
    try:
        return score_archs(
            indices, settings, out, resume=args.resume, data_dir=args.data_dir,
            flush_every=getattr(args, "flush_every", 500),
            on_start=lambda todo: bars.append(Progress("zc score", total=todo, unit="archs", min_interval=10.0)),
            on_arch=lambda _i, _r: bars[0].update(),
        )  # fmt: skip
    finally:
        for bar in bars:
            bar.close()


def cmd_score(args: argparse.Namespace) -> int:
    settings = _settings(args)
    indices = arch_indices(args.archs, args.seed, settings.datasets[0], args.data_dir)
    out = _out_store(args)
    summary = _run_scoring(args, settings, indices, out)
    summary.update(proxies=list(settings.proxies), datasets=list(settings.datasets))
    text = (f"scored {summary['scored']} archs ({summary['skipped']} already in the store) on "
            f"{', '.join(settings.datasets)}: {', '.join('zc_' + p for p in settings.proxies)} in {out}")  # fmt: skip
    emit(args, summary, text)
    return 0


def cmd_correlate(args: argparse.Namespace) -> int:
    from scipy import stats

    from nasforge import paths
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.store import open_store
    from nasforge.zerocost.reference import naslib_scores, naswot_scores

    settings = _settings(args)
    if len(settings.datasets) != 1:
        raise ConfigError("zc correlate takes one --dataset")
    ds = settings.datasets[0]
    indices = arch_indices(args.archs, args.seed, ds, args.data_dir)
    out = _out_store(args)
    with load_nb201(args.data_dir, args.store) as truth_store:
        truth = truth_store.query_many(np.array(indices), ds, args.target)
    _run_scoring(args, settings, indices, out)
    data_dir = paths.data_dir(args.data_dir)
    naslib = naslib_scores(data_dir, ds) if data_dir and ds != "cifar10-valid" else {}
    naswot = naswot_scores(data_dir) if data_dir and ds in ("cifar10", "cifar10-valid") else None
    rows = []
    with open_store(out) as store:
        for proxy in settings.proxies:
            ours = store.query_many(np.array(indices), ds, f"zc_{proxy}", missing="nan")
            if np.isnan(ours).any():
                raise ProxyError(f"the store {out} lacks zc_{proxy} on {ds} for some archs; rerun 'nasforge zc score'")
            cpu = store.query_many(np.array(indices), ds, f"zc_{proxy}_time", missing="nan")
            row = {
                "proxy": proxy,
                "archs": len(indices),
                "spearman": float(stats.spearmanr(ours, truth).statistic),
                "kendall": float(stats.kendalltau(ours, truth).statistic),
                "cpu_s_per_arch": float(np.nanmean(cpu)),
            }
            ref = naslib.get(proxy, {})
            common = [k for k, i in enumerate(indices) if i in ref]
            row["naslib_archs"] = len(common)
            theirs = [ref[indices[k]] for k in common]
            row["vs_naslib"] = float(stats.spearmanr(ours[common], theirs).statistic) if len(common) > 2 else None
            # NASLib's own score against the same target on the same archs: separates the proxy from the sample
            row["naslib_spearman"] = (
                float(stats.spearmanr(theirs, truth[common]).statistic) if len(common) > 2 else None
            )
            if naswot is not None:
                row["vs_naswot"] = float(stats.spearmanr(ours, naswot[indices], nan_policy="omit").statistic)
            rows.append(row)
    payload = {"dataset": ds, "target": args.target, "seed": args.seed, "batch_size": args.batch_size,
               "archs": len(indices), "proxies": rows}  # fmt: skip
    emit(args, _json_clean(payload), lambda: _table(payload))
    return 0


def _json_clean(payload: dict[str, Any]) -> dict[str, Any]:
    payload["proxies"] = [{k: json_safe(v) if isinstance(v, float) else v for k, v in r.items()}
                          for r in payload["proxies"]]  # fmt: skip
    return payload


def _table(payload: dict[str, Any]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    lines = [f"{payload['archs']} archs on {payload['dataset']} vs {payload['target']} (seed {payload['seed']}, "
             f"batch {payload['batch_size']})",
             "proxy      spearman  kendall cpu s/arch  NASLib's  vs NASLib (n) vs NASWOT"]  # fmt: skip
    for r in payload["proxies"]:
        lines.append(
            f"{r['proxy']:<10} {f(r['spearman']):>8} {f(r['kendall']):>8} {r['cpu_s_per_arch']:>10.3f} "
            f"{f(r['naslib_spearman']):>9} "
            f"{f(r['vs_naslib']) + ' (' + str(r['naslib_archs']) + ')':>14} {f(r.get('vs_naswot')):>9}"
        )
    return "\n".join(lines)
