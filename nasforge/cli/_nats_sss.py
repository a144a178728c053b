"""The NATS-Bench size space (``--space nats-sss``) in ``nasforge space`` and ``nasforge bench``.

nasforge space show 8:8:40:32:40 --space nats-sss      # or an index 0..32767
nasforge space sample --space nats-sss --n 5
nasforge space verify --space nats-sss                 # all 32,768: index <-> string, params/FLOPs
nasforge bench import nats-sss --data-dir DATA -o STORE
nasforge bench import nats DATA/nats_sss/raw -o STORE  # official sss files: recognised, into an sss store
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasforge.cli._common import emit

META_NAME = "meta.pickle.pbz2"
FULL_BUILDS = 16  # whole networks built on the meta device by verify, spread over the index range


# --- space show / sample / verify ---------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    from nasforge.spaces.nats_sss import GENOTYPE, SSSArch
    from nasforge.spaces.nats_sss_model import network_costs

    arch = SSSArch.from_any(args.arch)
    costs = network_costs(arch)
    payload = {**arch.to_dict(), "cell": GENOTYPE, "costs": {ds: c.to_dict() for ds, c in costs.items()}}

    def text() -> str:
        lines = [f"arch     {arch}", f"index    {arch.index}", f"cell     {GENOTYPE} (fixed)"]
        lines.append(f"{'dataset':<16}{'params':>10}{'params (M)':>12}{'MFLOPs':>12}")
        lines += [f"{ds:<16}{c.params:>10}{c.params_M:>12.6f}{c.flops_M:>12.6f}" for ds, c in costs.items()]
        return "\n".join(lines)

    emit(args, payload, text)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from nasforge.spaces.nats_sss import sample

    rng = np.random.default_rng(args.seed)
    archs = [sample(rng) for _ in range(args.n)]
    emit(args, {"seed": args.seed, "space": "nats-sss", "archs": [a.to_dict() for a in archs]},
         lambda: "\n".join(f"{a.index:>5}  {a}" for a in archs))  # fmt: skip
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """All 32,768 archs: index <-> string (against NATS's meta file when the data has it), every network
    counted for 4 datasets from parts built on the meta device, ``FULL_BUILDS`` whole networks compared with
    those counts, and the official files' params/FLOPs (3 archs x 4 datasets)."""
    import numpy as np
    import torch

    from nasforge.data.specs import dataset_spec
    from nasforge.paths import data_dir
    from nasforge.spaces import nats_sss
    from nasforge.spaces.nats_sss_model import SSS_DATASETS, SSSNetwork, cost_table

    limit = nats_sss.NUM_ARCHS if args.limit is None else min(args.limit, nats_sss.NUM_ARCHS)
    mismatches: list[dict[str, Any]] = []
    roundtrip = sum(nats_sss.SSSArch.parse(str(a)).index == a.index == i
                    for i, a in zip(range(limit), nats_sss.all_archs()))  # fmt: skip
    if roundtrip != limit:
        mismatches.append({"what": "index <-> string round trip", "ok": roundtrip, "archs": limit})
    tables = {ds: cost_table(ds) for ds in SSS_DATASETS}
    root = data_dir(args.data_dir)
    sss_dir = root / "nats_sss" if root is not None else None
    meta = _check_meta(sss_dir, limit, mismatches)
    official = _check_official(sss_dir, tables, mismatches)
    full = np.unique(np.linspace(0, limit - 1, min(FULL_BUILDS, limit)).astype(int))
    for index in full:
        arch = nats_sss.SSSArch.from_index(int(index))
        for ds in SSS_DATASETS:
            spec = dataset_spec(ds)
            with torch.device("meta"):  # shapes only: no memory for the weights
                net = SSSNetwork(arch, spec.num_classes)
            params, flops = sum(p.numel() for p in net.parameters()), net.flops(spec.image_size)
            if (params, flops) != (int(tables[ds][0][index]), int(tables[ds][1][index])):
                mismatches.append({"what": "whole network vs parts", "index": int(index), "dataset": ds})
    payload = {
        "space": "nats-sss",
        "archs": limit,
        "networks_counted": limit * len(SSS_DATASETS),
        "index_string_roundtrip": roundtrip,
        "meta_file": meta,
        "whole_networks_built": int(len(full) * len(SSS_DATASETS)),
        "official_files": official,
        "ranges": {
            ds: {
                "params_M": [float(t[0][:limit].min() / 1e6), float(t[0][:limit].max() / 1e6)],
                "flops_M": [float(t[1][:limit].min() / 1e6), float(t[1][:limit].max() / 1e6)],
            }
            for ds, t in tables.items()
        },  # fmt: skip
        "mismatches": mismatches,
        "ok": not mismatches,
    }
    emit(args, payload, lambda: _verify_text(payload))
    return 0 if not mismatches else 1


def _check_meta(sss_dir: Path | None, limit: int, mismatches: list[dict[str, Any]]) -> dict[str, Any] | None:
    from nasforge.benchmarks._unpickle import safe_load_file
    from nasforge.benchmarks.importers import NATS_FILE_LIMIT
    from nasforge.spaces.nats_sss import SSSArch

    path = _find(sss_dir, META_NAME)
    if path is None:
        return None
    data = safe_load_file(path, NATS_FILE_LIMIT, what="NATS-Bench sss meta file")
    archs = data.get("meta_archs") if isinstance(data, dict) else None
    if not isinstance(archs, list):
        mismatches.append({"what": "meta file", "file": str(path), "problem": "no meta_archs list"})
        return {"file": str(path), "equal": 0}
    equal = sum(str(SSSArch.from_index(i)) == archs[i] for i in range(min(limit, len(archs))))
    if equal != limit:
        mismatches.append({"what": "meta_archs", "file": str(path), "equal": equal, "archs": limit})
    return {"file": str(path), "entries": len(archs), "equal": equal}


def _check_official(sss_dir: Path | None, tables: dict, mismatches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every official per-arch file in ``<sss_dir>/raw``: its params and flop on each dataset vs ours."""
    from nasforge.benchmarks._unpickle import safe_load_file
    from nasforge.benchmarks.importers import NATS_FILE_LIMIT
    from nasforge.spaces.nats_sss import SSSArch

    raw = sss_dir / "raw" if sss_dir is not None else None
    files = sorted(p for p in raw.iterdir() if p.name.endswith(".pickle.pbz2") and not p.name.endswith(META_NAME)) \
        if raw is not None and raw.is_dir() else []  # fmt: skip
    checked = []
    for path in files:
        data = safe_load_file(path, NATS_FILE_LIMIT, what="NATS-Bench sss file")
        entry = data.get("90") if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            continue  # not an sss per-arch file (bench import says why)
        arch = SSSArch.parse(entry["arch_str"])
        for (ds, _seed), rec in entry["all_results"].items():
            if ds not in tables:
                continue
            ours_p, ours_f = int(tables[ds][0][arch.index]), int(tables[ds][1][arch.index])
            theirs_p, theirs_f = round(float(rec["params"]) * 1e6), round(float(rec["flop"]) * 1e6)
            row = {"index": arch.index, "arch": str(arch), "dataset": ds, "params": ours_p, "flops": ours_f,
                   "official_params": theirs_p, "official_flops": theirs_f}  # fmt: skip
            if row not in checked:
                checked.append(row)
                if (ours_p, ours_f) != (theirs_p, theirs_f):
                    mismatches.append({"what": "official params/flop", **row})
    return checked


def _find(sss_dir: Path | None, name: str) -> Path | None:
    # The shared data keeps NATS's files under their source-prefixed names (…__meta.pickle.pbz2).
    if sss_dir is None or not (sss_dir / "raw").is_dir():
        return None
    return next((p for p in sorted((sss_dir / "raw").iterdir()) if p.name.endswith(name)), None)


def _verify_text(p: dict[str, Any]) -> str:
    lines = [f"nats-sss: {p['archs']} archs; index <-> string round trip: {p['index_string_roundtrip']}"]
    meta = p["meta_file"]
    lines.append(f"meta file: {meta['equal']} of {meta.get('entries', '?')} arch strings equal ours ({meta['file']})"
                 if meta else "meta file: not found (no --data-dir/NASFORGE_DATA with nats_sss/raw)")  # fmt: skip
    lines.append(f"counted {p['networks_counted']} networks (4 datasets) from meta-device parts; "
                 f"{p['whole_networks_built']} whole networks built on the meta device agree")  # fmt: skip
    for ds, r in p["ranges"].items():
        lines.append(f"  {ds:<16} params {r['params_M'][0]:.6f}..{r['params_M'][1]:.6f} M   "
                     f"FLOPs {r['flops_M'][0]:.6f}..{r['flops_M'][1]:.6f} M")  # fmt: skip
    lines.append(f"official files: {len(p['official_files'])} (arch, dataset) pairs checked")
    for r in p["official_files"]:
        same = (r["params"], r["flops"]) == (r["official_params"], r["official_flops"])
        lines.append(f"  {r['index']:>5} {r['arch']:<14} {r['dataset']:<16} params {r['params']:>7} flops "
                     f"{r['flops']:>9}  {'= official' if same else 'MISMATCH'}")  # fmt: skip
    lines.append("all match" if p["ok"] else f"{len(p['mismatches'])} MISMATCHES: {p['mismatches'][:5]}")
    return "\n".join(lines)


# --- bench import ----------------------------------------------------------------------------------------------


def import_sss(args: argparse.Namespace, out: Path) -> None:
    """``bench import nats-sss`` (sources: the 90-epoch table and/or NATS sss files and folders; default the
    data folder's nats_sss/), and ``bench import nats`` on sss files: always with the computed costs."""
    from nasforge.benchmarks import nats_sss as sss
    from nasforge.benchmarks.builder import StoreBuilder
    from nasforge.benchmarks.store import open_store
    from nasforge.paths import require_data_dir
    from nasforge.spaces.nats_sss_model import cost_table

    given = [Path(s) for s in args.sources] or [require_data_dir(args.data_dir) / "nats_sss"]
    # a nats_sss/ folder (the table beside raw/) stands for everything in it
    sources = [q for p in given for q in (sss.sss_sources(p) if (p / sss.TABLE_NAME).is_file() else [p])]
    tables = [p for p in sources if p.name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz"))]
    files = [p for p in sources if p not in tables]
    if args.kind == "nats" and tables:
        raise _error(f"'import nats' takes NATS pickle files; import {tables[0]} with 'import nats-sss'")
    builder = StoreBuilder.from_store(open_store(out)) if args.merge and out.exists() else sss.sss_builder()
    sss.check_sss_builder(builder)
    sss.import_sss_costs(builder, cost_table)
    for table in tables:
        sss.import_sss_table(builder, table)
    if files:
        sss.import_sss_files(builder, files)
    builder.write(out, overwrite=out.exists())


def is_sss_source(sources: list[str]) -> bool:
    from nasforge.benchmarks.nats_sss import is_sss_file

    return bool(sources) and is_sss_file(sources[0])


def _error(message: str) -> Exception:
    from nasforge.errors import BenchmarkError

    return BenchmarkError(message)


def arch_from_text(space: str, text: str) -> Any:
    """An arch of the store's space from the command line (NB201 string/index/op code, or sss string/index)."""
    if space == "nats-sss":
        from nasforge.spaces.nats_sss import SSSArch

        return SSSArch.from_any(text)
    from nasforge.spaces.nb201 import NB201Arch

    return NB201Arch.from_any(text)
