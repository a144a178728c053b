"""``nasforge export``: write a found NB201 network as TorchScript that runs with torch alone.

nasforge export runs/my-train-run --format torchscript -o model.pt     # a 'nasforge train' run: trained weights
nasforge export 6111 --dataset my-images/ -o model.pt                 # an arch alone: untrained weights, said so
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_data_dir, add_json_flag, check, emit

FORMATS = ("torchscript",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a found NB201 network (with its trained weights) as TorchScript",
        description="Export a 'nasforge train' run directory (its trained weights) or an NB201 arch (untrained "
        "weights) as TorchScript. The file takes float32 N×C×H×W images with pixels in [0, 1] and returns logits; "
        "the training split's normalisation is built in, so torch.jit.load(FILE) is all it needs.",
    )
    p.add_argument("source", metavar="ARCH|RUN", help="a 'nasforge train' output directory, or an NB201 arch")
    p.add_argument("--format", choices=FORMATS, default="torchscript")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (e.g. model.pt)")
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="with an ARCH: the dataset sizing its network (cifar10, mnist or your own data)")  # fmt: skip
    p.add_argument("--image-size", type=argtypes.image_size, default=None, metavar="N", help="with an ARCH on own data")
    p.add_argument("--C", type=argtypes.channels, default=16, help="with an ARCH: first-stage channels (16)")
    p.add_argument("--N", type=argtypes.cells, default=5, help="with an ARCH: cells per stage (default 5)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.output)
    check(args.force or not out.exists(), f"{out} exists; choose another -o or pass --force to overwrite it")
    run = Path(args.source)
    if run.is_dir():
        arch, dataset, image_size, C, N, checkpoint = _from_run(run)
        check(args.dataset is None, "--dataset applies to an ARCH; a run directory records its dataset: drop it")
    else:
        from nasforge.spaces.nb201 import NB201Arch

        arch = NB201Arch.from_any(args.source)
        check(args.dataset is not None, "an ARCH needs --dataset (cifar10, mnist or your own data) to size its network")
        dataset, image_size, C, N, checkpoint = args.dataset, args.image_size, args.C, args.N, None
    from nasforge.data import load_dataset
    from nasforge.train.export import export_torchscript
    from nasforge.train.models import build_nb201

    # The training split gives the spec: classes, image shape and the normalisation built into the file.
    spec = load_dataset(dataset, "train", args.data_dir, image_size=image_size).spec
    model = build_nb201(arch, spec, C=C, N=N, seed=0)
    if checkpoint is not None:
        from nasforge.errors import ConfigError
        from nasforge.train.engine import _CHECKPOINT_FIELDS, load_checkpoint_file

        model.load_state_dict(load_checkpoint_file(checkpoint, _CHECKPOINT_FIELDS, ConfigError)["model"])
    export_torchscript(model, spec, out)
    weights = f"trained weights from {checkpoint}" if checkpoint else "UNTRAINED weights (an arch alone has none)"
    payload = {"output": str(out), "format": args.format, "arch": arch.to_string(),
               "input_shape": list(spec.input_shape), "classes": list(spec.classes or range(spec.num_classes)),
               "weights": weights,
               "params": sum(p.numel() for p in model.parameters())}  # fmt: skip
    emit(args, payload, lambda: f"wrote {out} (TorchScript, NB201 {arch.to_string()}, input {spec.input_shape}, "
                                f"{payload['params']:,} parameters, {weights})")  # fmt: skip
    return 0


def _from_run(run: Path):  # noqa: ANN202 - (arch, dataset, image size, C, N, checkpoint)
    from nasforge.cli._outputs import SETTINGS_NAME, TRAIN_RUN
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.train.engine import CHECKPOINT_NAME

    record_path = run / SETTINGS_NAME
    check(record_path.is_file(), f"{run} is not a 'nasforge train' run ({SETTINGS_NAME} missing); give its --out "
          "directory, or an NB201 arch with --dataset")  # fmt: skip
    record = json.loads(record_path.read_text(encoding="utf-8"))
    check(record.get("run") == TRAIN_RUN.name, f"{run} is a {record.get('run')}, not a 'nasforge train' run; "
          "(DARTS genotypes: retrain with nasforge train-genotype; exporting them is not supported yet)")  # fmt: skip
    s = record["settings"]
    checkpoint = run / CHECKPOINT_NAME
    check(checkpoint.is_file(), f"{run} has no {CHECKPOINT_NAME} (no trained weights); rerun nasforge train there, "
          f"or export the arch alone: nasforge export '{s['arch']}' --dataset ... (untrained weights)")  # fmt: skip
    return NB201Arch.parse(s["arch"]), s["--dataset"], s.get("--image-size"), s["--C"], s["--N"], checkpoint
