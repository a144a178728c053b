"""``nasforge export``: write a found network as TorchScript or ONNX that runs without nasforge; ``--summary``
measures it.

nasforge export runs/my-train-run -o model.pt                      # a 'nasforge train' run: trained weights
nasforge export logs/retrain --format onnx -o model.onnx          # a 'nasforge train-genotype' run (DARTS)
nasforge export logs/ --untrained -o model.pt                      # a DARTS search: its genotype, initial weights
nasforge export 6111 --dataset my-images/ -o model.pt              # an arch alone: untrained weights, said so
nasforge export runs/my-train-run --summary                        # params, MACs, CPU latency; no file written
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_data_dir, add_json_flag, check, emit

# nasforge.train.export.FORMATS, spelt out so that `--help` need not import torch (tests/test_export.py checks).
FORMATS = ("torchscript", "onnx")
# The format an -o file's extension names: --format defaults to it, and may not contradict it.
EXTENSIONS = {".onnx": "onnx", ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript",
              ".torchscript": "torchscript"}  # fmt: skip
UNTRAINED = "UNTRAINED weights"
MAX_RUNS = 100_000  # timed calls of --summary: past this a latency median gains nothing


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a found network (with its trained weights) as TorchScript or ONNX; --summary: size and speed",
        description="Export a 'nasforge train' run (NB201, trained weights), a 'nasforge train-genotype' run "
        "(DARTS, trained weights), a 'nasforge darts'/'oneshot' log directory (its genotype: initial weights, "
        "only with --untrained) or an arch (an NB201 arch or index, a DARTS Genotype(...), a NATS-sss C:C:C:C:C; "
        "initial weights) as TorchScript or ONNX (the onnx extra). The file takes float32 N×C×H×W images with "
        "pixels in [0, 1] and returns logits; the training split's normalisation is built in. --summary prints "
        "parameters, multiply-accumulates and the exported file's measured CPU latency.",
    )
    p.add_argument("source", metavar="RUN|LOGDIR|ARCH",
                   help="a train or train-genotype run, a darts/oneshot log directory (or its genotype.json), "
                   "or an arch")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="torchscript (torch.jit.load) or onnx (onnxruntime; pip install 'nasforge[onnx]'); "
                   "default: the -o extension's (.onnx; .pt .pth .ts .torchscript), else torchscript")  # fmt: skip
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="file to write (e.g. model.pt, model.onnx); optional with --summary")  # fmt: skip
    p.add_argument("--summary", action="store_true",
                   help="print parameters, MACs and the exported model's CPU latency (batch 1)")  # fmt: skip
    p.add_argument(
        "--runs",
        type=argtypes.int_range(1, MAX_RUNS),
        default=50,
        help="with --summary: timed calls, the median is reported (default 50, after 10 warm-up calls)",
    )
    p.add_argument("--threads", type=argtypes.cpu_threads, default=1,
                   help="with --summary: CPU threads of the timed calls (default 1)")  # fmt: skip
    p.add_argument("--untrained", action="store_true",
                   help="export a run that has no trained weights (a DARTS search) with initial weights")  # fmt: skip
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="with an ARCH: the dataset sizing its network (cifar10, mnist or your own data)")  # fmt: skip
    p.add_argument("--image-size", type=argtypes.image_size, default=None, metavar="N",
                   help="with an ARCH or a DARTS log directory on your own data: resize to NxN")  # fmt: skip
    p.add_argument("--C", type=argtypes.channels, default=16,
                   help="with an ARCH or a DARTS log directory: first-stage channels (16)")  # fmt: skip
    p.add_argument("--N", type=argtypes.cells, default=5, help="with an NB201 ARCH: cells per stage (default 5)")
    p.add_argument("--layers", type=argtypes.cells, default=None,
                   help="with a DARTS Genotype(...): cells (default: the space's, darts 8)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_export)


@dataclass(frozen=True)
class _Source:
    """What to build: the arch, its space, the dataset sizing it and its weights (a checkpoint, or none)."""

    arch: Any  # NB201Arch | Genotype | SSSArch
    space: str  # nb201, darts-mnist, darts, nats-sss
    dataset: str
    image_size: int | None
    sizes: dict[str, Any]  # the space's network options: C and N (nb201); C, layers, stem_multiplier (darts)
    checkpoint: Path | None
    weights: str  # what the file's weights are, in words


def cmd_export(args: argparse.Namespace) -> int:
    from nasforge.cli._outputs import check_output_file

    check(args.output is not None or args.summary, "give -o FILE to write the model, or --summary to measure it")
    out = None if args.output is None else check_output_file(args.output, "-o")
    check(out is None or args.force or not out.exists(),
          f"{out} exists; choose another -o or pass --force to overwrite it")  # fmt: skip
    args.format = _format(args.format, out)
    from nasforge.train.export import check_format

    check_format(args.format, run=args.summary)  # the onnx extra, before any work
    source = _resolve(args)
    from nasforge._io import atomic_write_bytes
    from nasforge.data import load_dataset
    from nasforge.train.export import serialize, summarize

    # The training split gives the spec: classes, image shape and the normalisation built into the file.
    spec = load_dataset(source.dataset, "train", args.data_dir, image_size=source.image_size).spec
    model = _build(source, spec)
    # One call, with or without -o: TorchScript's debug information records the Python calls around the trace,
    # so the bytes --summary measures are the bytes -o writes only if both come from the same call.
    data = serialize(model, spec, args.format)
    if out is not None:
        atomic_write_bytes(out, data)  # a temporary file and a rename: nothing partial on any error
    summary = summarize(model, spec, data, args.format, runs=args.runs, threads=args.threads) if args.summary else None
    payload = {"output": None if out is None else str(out), "format": args.format, "space": source.space,
               "arch": _arch_text(source.arch), "input_shape": list(spec.input_shape),
               "classes": list(spec.classes or range(spec.num_classes)), "weights": source.weights,
               "params": sum(p.numel() for p in model.parameters()),
               "summary": None if summary is None else summary.to_dict()}  # fmt: skip
    emit(args, payload, lambda: _text(payload, summary))
    return 0


def _format(fmt: str | None, out: Path | None) -> str:
    """--format, else the one -o's extension names (torchscript without -o); one line for an extension that
    names none without --format, or one that contradicts --format."""
    suffix = None if out is None else out.suffix.lower()
    named = EXTENSIONS.get(suffix) if suffix is not None else None
    if fmt is None:
        check(out is None or named is not None, f"-o {out}: its extension ({suffix or 'none'}) names no format; "
              "pass --format torchscript or --format onnx, or name the file .pt or .onnx")  # fmt: skip
        return named or "torchscript"
    check(named in (None, fmt), f"--format {fmt} contradicts -o {out} (a {suffix} file is {named}); name the "
          f"file {'.onnx' if fmt == 'onnx' else '.pt'} or drop --format")  # fmt: skip
    return fmt


def _text(payload: dict[str, Any], summary: Any) -> str:
    fmt = {"torchscript": "TorchScript", "onnx": "ONNX"}[payload["format"]]
    what = (f"{fmt}, {payload['space']} {payload['arch']}, input {tuple(payload['input_shape'])}, "
            f"{payload['params']:,} parameters, {payload['weights']}")  # fmt: skip
    lines = [f"wrote {payload['output']} ({what})" if payload["output"] else f"not written (no -o): {what}"]
    if summary is not None:
        runner = "onnxruntime" if summary.format == "onnx" else "torch.jit"
        low, high = summary.latency_iqr_ms
        lines += [
            f"params   {summary.params:,}",
            f"MACs     {summary.macs:,} per image ({summary.macs / 1e6:.2f} M; {summary.macs_source})",
            f"latency  {summary.latency_ms:.3f} ms median (IQR {low:.3f}-{high:.3f} ms) of {summary.runs} runs after "
            f"{summary.warmup} warm-up, batch 1, {summary.threads} thread(s), CPU, {runner}",
            f"file     {summary.file_bytes:,} bytes",
        ]
    return "\n".join(lines)


def _arch_text(arch: Any) -> str:
    return arch.to_string() if hasattr(arch, "to_string") else str(arch)


# --- the source: a run directory, a DARTS log directory, or an arch ---------------------------------------------


def _resolve(args: argparse.Namespace) -> _Source:
    path = Path(args.source)
    if _is_run_path(path):
        check(args.dataset is None, f"--dataset applies to an ARCH; {path} records its dataset: drop --dataset")
        return _from_directory(path, args)
    check(not args.untrained, "--untrained applies to a run directory without trained weights; an ARCH alone is "
          "always exported with initial weights: drop --untrained")  # fmt: skip
    arch, space = _parse_arch(args.source)
    check(args.dataset is not None, "an ARCH needs --dataset (cifar10, mnist or your own data) to size its network")
    sizes = {"nb201": {"C": args.C, "N": args.N}, "nats-sss": {}}.get(
        space, {"C": args.C, "layers": args.layers, "stem_multiplier": None}
    )
    return _Source(arch, space, args.dataset, args.image_size, sizes, None, f"{UNTRAINED} (an arch alone has none)")


def _is_run_path(path: Path) -> bool:
    """A directory or a .json file; an arch string that is no possible file name (too long) is neither."""
    try:
        return path.is_dir() or (path.is_file() and path.suffix == ".json")
    except OSError:
        return False


def _parse_arch(text: str) -> tuple[Any, str]:
    """An arch string in the space its form names: ``Genotype(...)``/JSON (DARTS), ``C:C:C:C:C`` (NATS-sss),
    else an NB201 arch string or index."""
    text = text.strip()
    if text.startswith(("Genotype(", "{")):
        from nasforge.spaces.darts import Genotype
        from nasforge.train.models import genotype_space

        genotype = Genotype.parse(text)
        return genotype, genotype_space(genotype)
    if ":" in text and "|" not in text:
        from nasforge.spaces.nats_sss import SSSArch

        return SSSArch.parse(text), "nats-sss"
    check(not _is_file(text), f"{text} is a file, not a run directory, a genotype.json or an arch")
    from nasforge.errors import ArchError
    from nasforge.spaces.nb201 import NB201Arch

    if not (text.startswith("|") or text.lstrip("-").isdigit()):
        raise ArchError(f"{text[:80]}: no such run directory, and not an arch (an NB201 |op~0|+... string or "
                        "index, a DARTS Genotype(...), a NATS-sss C:C:C:C:C)")  # fmt: skip
    return NB201Arch.from_any(text), "nb201"


def _is_file(text: str) -> bool:
    try:
        return Path(text).exists()
    except OSError:
        return False


def _from_directory(path: Path, args: argparse.Namespace) -> _Source:
    from nasforge.cli._outputs import DARTS_RUN, RETRAIN_RUN, SETTINGS_NAME, TRAIN_RUN, read_run_record

    record = read_run_record(path, "rerun the command that wrote it") if path.is_dir() else None
    kind = record["run"] if record else None
    if path.is_file() or (kind is None and (path / "genotype.json").is_file()) or kind == DARTS_RUN.name:
        return _from_darts_search(path, args)
    check(record is not None, f"{path} is not a nasforge run ({SETTINGS_NAME} missing): give a 'nasforge train' "
          "or 'train-genotype' run, a 'nasforge darts' log directory, or an arch with --dataset")  # fmt: skip
    check(kind in (TRAIN_RUN.name, RETRAIN_RUN.name), f"{path} is a {kind}, which holds no network to export; "
          "give a 'nasforge train' or 'train-genotype' run, a 'nasforge darts' log directory, or an arch "
          "(e.g. a search's incumbent: nasforge study show RUN) with --dataset")  # fmt: skip
    s = record["settings"]
    check(args.image_size is None, f"--image-size applies to an ARCH; {path} records its image size: drop it")
    if kind == TRAIN_RUN.name:
        from nasforge.spaces.nb201 import NB201Arch

        arch, space, sizes = NB201Arch.parse(_setting(s, "arch", path)), "nb201", {"C": s.get("--C"), "N": s.get("--N")}
        retrain = f"nasforge train '{arch.to_string()}' --dataset ... --out {path}"
    else:
        from nasforge.spaces.darts import Genotype

        check("space" in s, f"{path} is a train-genotype run from before nasforge recorded its space; rerun "
              "nasforge train-genotype to export it")  # fmt: skip
        arch, space = Genotype.parse(_setting(s, "genotype", path)), s["space"]
        sizes = {"C": s.get("--C"), "layers": s.get("layers"), "stem_multiplier": s.get("stem_multiplier")}
        retrain = "nasforge train-genotype LOGDIR --out " + str(path)
    checkpoint = _checkpoint(path)
    if checkpoint is None:
        check(args.untrained, f"{path} has no checkpoint.pt, so no trained weights: rerun '{retrain}', or pass "
              "--untrained to export the network with initial weights")  # fmt: skip
    else:
        check(not args.untrained, f"{path} has trained weights (checkpoint.pt): drop --untrained to export them")
    weights = f"trained weights from {checkpoint}" if checkpoint else f"{UNTRAINED} (--untrained: {path} has none)"
    return _Source(arch, space, _setting(s, "--dataset", path), s.get("--image-size"), sizes, checkpoint, weights)


def _from_darts_search(path: Path, args: argparse.Namespace) -> _Source:
    """A 'nasforge darts'/'oneshot' log directory: its genotype, never trained weights (the supernet's are not
    the discrete network's)."""
    from nasforge.oneshot.search import load_genotype
    from nasforge.spaces.nb201 import NB201Arch

    doc, arch = load_genotype(path)
    logdir = path if path.is_dir() else path.parent
    if isinstance(arch, NB201Arch):
        how = f"train it: nasforge train '{arch.to_string()}' --dataset ... and export that run"
        space, sizes = "nb201", {"C": args.C, "N": args.N}
    else:
        retrained = logdir / "retrain"
        how = (
            f"export its retrained network: nasforge export {retrained}"
            if _checkpoint(retrained)
            else f"retrain it first: nasforge train-genotype {logdir} --dataset ..., then export {retrained}"
        )
        space, sizes = doc["space"], {"C": args.C, "layers": doc.get("layers"),
                                      "stem_multiplier": doc.get("stem_multiplier")}  # fmt: skip
    check(
        args.untrained,
        f"{path} is a one-shot search: its genotype has no trained network weights (a "
        f"supernet's are not the network's); {how}, or pass --untrained to export it with initial weights",
    )
    weights = f"{UNTRAINED} (--untrained: a search's genotype has none)"
    return _Source(arch, space, doc.get("dataset", "mnist"), args.image_size, sizes, None, weights)


def _setting(settings: dict[str, Any], key: str, run: Path) -> Any:
    check(isinstance(settings.get(key), str), f"{run}: its run record lacks {key!r}; rerun the command that wrote it")
    return settings[key]


def _checkpoint(run: Path) -> Path | None:
    from nasforge.train.engine import CHECKPOINT_NAME

    path = run / CHECKPOINT_NAME
    return path if path.is_file() else None


# --- the network ------------------------------------------------------------------------------------------------


def _build(source: _Source, spec: Any) -> Any:
    """The network of ``source`` sized for ``spec``, its weights from the checkpoint or initialized from seed 0."""
    from nasforge.train import models

    if source.space == "nb201":
        model = models.build_nb201(source.arch, spec, **source.sizes)
    elif source.space == "nats-sss":
        model = models.build_sss(source.arch, spec)
    else:
        model = models.build_darts(source.arch, spec, source.space, **source.sizes)
    if source.checkpoint is not None:
        from nasforge.errors import ConfigError
        from nasforge.train.engine import _CHECKPOINT_FIELDS, load_checkpoint_file

        state = load_checkpoint_file(source.checkpoint, _CHECKPOINT_FIELDS, ConfigError)["model"]
        try:
            model.load_state_dict(state)
        except RuntimeError:
            raise ConfigError(f"{source.checkpoint} does not fit the network its run records (another arch or "
                              "width); rerun the training to export it") from None  # fmt: skip
    return model
