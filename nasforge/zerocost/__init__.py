"""Zero-cost proxies: score an untrained network from one minibatch, in seconds instead of GPU-days.

Each proxy is a function ``(network, batch, ...) -> float`` (higher = predicted better) citing its paper:
:func:`grad_norm`, :func:`snip`, :func:`grasp`, :func:`fisher`, :func:`plain` (loss gradients),
:func:`jacob_cov`, :func:`epe_nas`, :func:`nwot` (how the network separates images), :func:`synflow`,
:func:`zen`, :func:`l2_norm`, :func:`params`, :func:`flops` (no data) and :func:`zico` (ICLR 2023).
:func:`score` computes several at once, sharing one forward/backward among the proxies that read it.

Networks are any ``nn.Module`` classifier (NB201 and DARTS-space networks included); :func:`init_network` draws
their weights from a seeded ``torch.Generator`` (PyTorch's default initialisation, never the global RNG), and
:func:`nb201_network` builds and initialises an NB201 network that way. Every proxy is defined, and finite, for the
degenerate all-``none`` NB201 cell (each docstring says its value). A non-finite value is a
:class:`~nasforge.errors.ProxyError`.

>>> import torch
>>> from nasforge.spaces.nb201 import NB201Arch
>>> net = nb201_network(NB201Arch.from_index(9930), "cifar10", seed=0, C=4, N=1)
>>> batch = Batch(torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10)
>>> sorted(score(net, batch, ["params", "synflow"]))
['params', 'synflow']
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nasforge.errors import ConfigError, DataError, ProxyError
from nasforge.spaces.nb201 import NB201Arch
from nasforge.zerocost import gradient, jacobian
from nasforge.zerocost._probe import Batch, Probe
from nasforge.zerocost.dataless import flops, l2_norm, params, synflow, zen
from nasforge.zerocost.gradient import fisher, grad_norm, grasp, plain, snip
from nasforge.zerocost.jacobian import epe_nas, jacob_cov, nwot
from nasforge.zerocost.zico import zico

__all__ = [
    "PROXIES", "DATA_FREE", "Batch", "Proxy", "data_batch", "epe_nas", "fisher", "flops", "grad_norm", "grasp",
    "init_network", "jacob_cov", "l2_norm", "nb201_network", "nwot", "params", "parse_proxies", "plain",
    "score", "shape_batch", "snip", "synflow", "zen", "zico",
]  # fmt: skip


@dataclass(frozen=True)
class Proxy:
    """A registered proxy: its name, its paper, whether it needs real images, and how :func:`score` runs it
    (``run(probe, generator)``; proxies that read the shared pass declare it in ``passes``)."""

    name: str
    paper: str
    data_free: bool
    passes: frozenset[str]
    run: Callable[[Probe, torch.Generator], float]


def _own(fn: Callable[[nn.Module, Batch], float]) -> Callable[[Probe, torch.Generator], float]:
    return lambda probe, _g: fn(probe.network, probe.batch)


_LOSS, _JAC, _CODES = frozenset({"loss"}), frozenset({"jacobian"}), frozenset({"codes"})
PROXIES: dict[str, Proxy] = {
    p.name: p
    for p in (
        Proxy("grad_norm", "Abdelfattah et al., ICLR 2021", False, _LOSS, lambda pr, _g: gradient.grad_norm_from(pr)),
        Proxy("snip", "Lee et al., ICLR 2019", False, _LOSS, lambda pr, _g: gradient.snip_from(pr)),
        Proxy("grasp", "Wang et al., ICLR 2020", False, frozenset(), _own(grasp)),
        Proxy("fisher", "Turner et al., ICLR 2020", False, _LOSS, lambda pr, _g: gradient.fisher_from(pr)),
        Proxy("plain", "Abdelfattah et al., ICLR 2021", False, _LOSS, lambda pr, _g: gradient.plain_from(pr)),
        Proxy("synflow", "Tanaka et al., NeurIPS 2020", True, frozenset(), _own(synflow)),
        Proxy("jacob_cov", "Mellor et al., arXiv 2020", False, _JAC, lambda pr, _g: jacobian.jacob_cov_from(pr)),
        Proxy("nwot", "Mellor et al., ICML 2021", False, _CODES, lambda pr, _g: jacobian.nwot_from(pr)),
        Proxy("zen", "Lin et al., ICCV 2021", True, frozenset(), lambda pr, g: zen(pr.network, pr.batch, g)),
        Proxy("epe_nas", "Lopes et al., ICANN 2021", False, _JAC, lambda pr, _g: jacobian.epe_nas_from(pr)),
        Proxy("l2_norm", "Abdelfattah et al., ICLR 2021", True, frozenset(), _own(l2_norm)),
        Proxy("params", "parameter count (millions)", True, frozenset(), _own(params)),
        Proxy("flops", "multiply-accumulates (millions)", True, frozenset(), _own(flops)),
        Proxy("zico", "Li et al., ICLR 2023", False, frozenset(), _own(zico)),
    )
}  # fmt: skip
"""Every proxy by name, in the order tables list them."""

DATA_FREE: tuple[str, ...] = tuple(name for name, p in PROXIES.items() if p.data_free)


def parse_proxies(text: str | Sequence[str]) -> tuple[str, ...]:
    """Proxy names from ``"a,b"`` or a list; ``"all"`` and ``"data-free"`` name groups. Unknown names raise
    :class:`ConfigError` listing the known ones."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    out: list[str] = []
    for item in items:
        group = {"all": tuple(PROXIES), "data-free": DATA_FREE}.get(item)
        for name in group or (item,):
            if name not in PROXIES:
                raise ConfigError(f"unknown proxy {name!r}; known: {', '.join(PROXIES)} (or 'all', 'data-free')")
            if name not in out:
                out.append(name)
    if not out:
        raise ConfigError(f"no proxy named; pass --proxies with some of: {', '.join(PROXIES)}")
    return tuple(out)


def init_network(network: nn.Module, generator: torch.Generator) -> nn.Module:
    """(Re)initialise every parameter as PyTorch's defaults do, but drawn from ``generator``: conv/linear weights
    Kaiming-uniform (a=√5), biases U(±1/√fan_in), BatchNorm 1/0 with fresh statistics. Returns ``network``."""
    with torch.no_grad():
        for m in network.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    bound = 1 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(m.weight)[0])
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()  # weight 1, bias 0, running stats reset
    return network


def nb201_network(
    arch: NB201Arch, dataset: str, seed: int, *, C: int = 16, N: int = 5, device: str = "cpu"
) -> nn.Module:
    """NB201's network for ``arch`` on ``dataset`` (its classes), weights drawn by :func:`init_network` from
    ``seed``. Built on the meta device first, so no global random draw happens."""
    from nasforge.data.specs import dataset_spec
    from nasforge.spaces.nb201_model import NB201Network

    with torch.device("meta"):
        net = NB201Network(arch, num_classes=dataset_spec(dataset).num_classes, C=C, N=N)
    net = net.to_empty(device=device)
    return init_network(net, torch.Generator(device=device).manual_seed(seed))


def score(
    network: nn.Module,
    batch: Batch,
    proxies: Sequence[str],
    *,
    seed: int = 0,
    shared: bool = True,
    times: dict[str, float] | None = None,
) -> dict[str, float]:
    """``{proxy: value}`` for ``proxies`` on ``network`` (initialised by the caller) and ``batch``.

    With ``shared`` the proxies reading the loss gradients, the input-Jacobian or the ReLU codes get them from one
    forward pass (and at most two backwards); otherwise each runs its own passes (same values, the benchmark's
    baseline). ``seed`` seeds the draws of zen. ``times``, if given, receives each proxy's CPU seconds (a shared
    pass is split evenly among the proxies reading it). Raises :class:`ProxyError` for a NaN or infinite value.
    """
    names = parse_proxies(proxies)
    generator = torch.Generator(device=batch.images.device)
    probe = Probe(network, batch)
    shared_s: dict[str, float] = dict.fromkeys(names, 0.0)
    users = [n for n in names if PROXIES[n].passes]
    if shared and users:
        start = time.process_time()
        probe.need(set().union(*(PROXIES[n].passes for n in users)))
        for n in users:
            shared_s[n] = (time.process_time() - start) / len(users)
    out = {}
    for name in names:
        generator.manual_seed(seed)
        start = time.process_time()
        value = PROXIES[name].run(probe if shared else Probe(network, batch), generator)
        if times is not None:
            times[name] = time.process_time() - start + shared_s[name]
        if not math.isfinite(value):
            raise ProxyError(f"proxy {name} gave {value} for this network; it is not a usable score")
        out[name] = float(value)
    return out


# --- batches ---------------------------------------------------------------------------------------------------

IMAGE_DATASETS = ("cifar10", "cifar10-valid")
"""Datasets whose images nasforge has (the shared CIFAR-10 files); CIFAR-100 and ImageNet16-120 images are not
in the data directory, so their data-dependent proxies cannot be computed."""


def data_batch(dataset: str, size: int, seed: int, data_dir: str | os.PathLike | None = None) -> Batch:
    """``size`` CIFAR-10 training images drawn without replacement by ``seed`` (normalised as for training)."""
    from nasforge.data.batches import Normalizer
    from nasforge.data.loading import load_dataset

    if dataset not in IMAGE_DATASETS:
        raise DataError(
            f"no {dataset} images: the data directory holds CIFAR-10 only (CIFAR-100 and ImageNet16-120 images are "
            f"not available); score {dataset} with the data-free proxies ({', '.join(DATA_FREE)})"
        )
    ds = load_dataset("cifar10", "train", data_dir, allow_embedded=False)
    if not 2 <= size <= len(ds):
        raise ConfigError(f"batch size must be between 2 and {len(ds)}, got {size}")
    pick = np.random.default_rng(seed).choice(len(ds), size=size, replace=False)
    idx = torch.as_tensor(pick, dtype=torch.int64)
    return Batch(Normalizer("cifar10", 3)(ds.images[idx]), ds.labels[idx])


def shape_batch(dataset: str, size: int) -> Batch:
    """A batch of zeros shaped like ``dataset``'s images, for the data-free proxies (which read only the shape)."""
    from nasforge.data.specs import dataset_spec

    spec = dataset_spec(dataset)
    images = torch.zeros(size, spec.channels, spec.image_size, spec.image_size)
    return Batch(images, torch.zeros(size, dtype=torch.int64))
