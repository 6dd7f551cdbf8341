"""Training-time data augmentation for NHWC batches: seeded, vectorised, off unless asked.

Inputs are raw (normalisation is a layer inside the model), so every magnitude is relative to the
training set's own per-channel mean and std. 1-D signals (height 1) take ``jitter``, ``scaling``,
``shift``, ``time_warp`` and ``mixup``; images (height > 1) take ``jitter``, ``scaling``, ``shift``,
``flip``, ``rotation``, ``cutout`` and ``mixup``. Every random number comes from the CPU
``torch.Generator`` passed to each call, so a seeded run is reproducible on CPU and CUDA alike.

References: T. T. Um et al., "Data augmentation of wearable sensor data" (ICMI 2017: jitter, scaling,
time warp); T. DeVries and G. W. Taylor, "Improved regularization of CNNs with cutout" (2017);
H. Zhang et al., "mixup: beyond empirical risk minimization" (ICLR 2018).

>>> import numpy as np, torch
>>> x = np.random.default_rng(0).normal(9.8, 0.5, (64, 1, 128, 3)).astype(np.float32)
>>> aug = Augmenter({"jitter": 0.05, "shift": 0.1, "mixup": 0.2}, x)
>>> aug.describe()
'jitter 0.05, shift 0.1, mixup 0.2'
>>> xb, yb = aug(torch.from_numpy(x[:8]), torch.arange(8) % 3, 3, torch.Generator().manual_seed(0))
>>> tuple(xb.shape), tuple(yb.shape), bool(yb.sum(1).allclose(torch.ones(8)))
((8, 1, 128, 3), (8, 3), True)
>>> Augmenter({"rotation": 10}, x)
Traceback (most recent call last):
...
tinyml_cli.errors.ConfigError: train.augment.rotation: applies to images only (height > 1); these inputs are 1-D signals of shape (1, 128, 3)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Field, boolean, choice, number, validate
from ..errors import ConfigError
from .dataset import channel_stats

PATH = "train.augment"

AUGMENT_SCHEMA = {
    "jitter": Field(number(min_value=0.0), 0.0, "additive Gaussian noise, std as a fraction of each "
                    "channel's training std (0: off)"),
    "scaling": Field(number(min_value=0.0, max_value=1.0), 0.0, "each channel of each sample "
                     "multiplied by N(1, scaling) around the channel's training mean (0: off)"),
    "shift": Field(number(min_value=0.0, max_value=0.5), 0.0, "random shift of up to this fraction "
                   "of the length (1-D) or of the height and width (images) (0: off)"),
    "fill": Field(choice("edge", "zero"), "edge", "what fills the samples that shift and rotation "
                  "bring in from outside: the edge value or zero"),
    "time_warp": Field(number(min_value=0.0, max_value=1.0), 0.0, "1-D only: strength of a smooth "
                       "random time distortion with fixed endpoints (0: off)"),
    "flip": Field(boolean, False, "images only: random horizontal flip (not valid for every image "
                  "set, e.g. digits)"),
    "rotation": Field(number(min_value=0.0, max_value=180.0), 0.0, "images only: random rotation "
                      "of up to this many degrees either way (0: off)"),
    "cutout": Field(number(min_value=0.0, max_value=1.0), 0.0, "images only: one square of this "
                    "fraction of the shorter side set to the channel's training mean (0: off)"),
    "mixup": Field(number(min_value=0.0), 0.0, "alpha of the Beta(alpha, alpha) mixing of sample "
                   "pairs and their targets (0: off)"),
}

SIGNAL_ONLY = ("time_warp",)
IMAGE_ONLY = ("flip", "rotation", "cutout")
WARP_KNOTS = 4


class Augmenter:
    """Random transforms of a training batch, scaled to the training set's per-channel statistics.

    ``cfg`` is the ``train.augment`` section (validated here again, so a partial dict is fine);
    ``x_train`` the NHWC training inputs, whose per-channel mean and std set every magnitude and
    whose shape decides which keys apply (a key for the other input kind is a ConfigError).
    ``__call__`` returns the augmented batch and soft targets (one-hot unless mixup is on).
    """

    def __init__(self, cfg: dict, x_train: np.ndarray) -> None:
        self.cfg = validate(cfg, AUGMENT_SCHEMA, source="config", path=PATH)
        x_train = np.asarray(x_train)
        if x_train.ndim != 4 or len(x_train) == 0:
            raise ValueError(f"augment: expected non-empty NHWC training inputs, got shape {x_train.shape}")
        self.input_shape = tuple(int(d) for d in x_train.shape[1:])
        self.is_signal = self.input_shape[0] == 1
        self._check_kind()
        mean, std = channel_stats(x_train)
        self.mean = torch.from_numpy(mean.astype(np.float32))
        self.std = torch.from_numpy(std.astype(np.float32))

    def _check_kind(self) -> None:
        if self.is_signal:
            wrong, kind, these = IMAGE_ONLY, "images only (height > 1)", "1-D signals"
        else:
            wrong, kind, these = SIGNAL_ONLY, "1-D signals only (height 1)", "images"
        for key in wrong:
            if self.cfg[key]:
                raise ConfigError(f"{PATH}.{key}: applies to {kind}; these inputs are {these} "
                                  f"of shape {self.input_shape}")

    @property
    def enabled(self) -> bool:
        """False when every transform is off (the training loop can then skip the call)."""
        return any(bool(v) for k, v in self.cfg.items() if k != "fill")

    def describe(self) -> str:
        """One line for logs: ``'jitter 0.03, scaling 0.1'``, or ``'off'``."""
        moves = self.cfg["shift"] or self.cfg["rotation"]
        parts = [k if v is True else f"{k} {v:g}" for k, v in self.cfg.items()
                 if k != "fill" and v]
        if parts and moves and self.cfg["fill"] != "edge":
            parts.append(f"fill {self.cfg['fill']}")
        return ", ".join(parts) or "off"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment one NHWC batch; return it (same shape, dtype, device) and (N, num_classes) targets."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"augment: batch of shape {tuple(x.shape)} does not match the training "
                             f"inputs {self.input_shape}")
        if not x.is_floating_point():
            raise ValueError(f"augment: expected floating-point inputs, got {x.dtype}")
        target = F.one_hot(y.long(), num_classes).to(x.dtype)
        if not self.enabled:
            return x, target
        cfg, n = self.cfg, len(x)
        dev, dt = x.device, x.dtype
        mean, std = self.mean.to(dev, dt), self.std.to(dev, dt)

        def draw(fn, *args, **kw) -> torch.Tensor:  # CPU draw from the run's generator, then move
            return fn(*args, generator=generator, **kw).to(dev)

        if cfg["time_warp"] and x.shape[2] > 1:
            speeds = torch.exp(cfg["time_warp"] * draw(torch.randn, n, WARP_KNOTS))
            x = time_warp(x, speeds.to(dt))
        if cfg["shift"]:
            dy, dx = (draw(torch.randint, -k, k + 1, (n,)) if k else torch.zeros(n, dtype=torch.long, device=dev)
                      for k in (int(cfg["shift"] * side) for side in self.input_shape[:2]))
            x = shift(x, dy, dx, cfg["fill"])
        if cfg["rotation"]:
            degrees = (draw(torch.rand, n) * 2 - 1) * cfg["rotation"]
            x = rotate(x, degrees.to(dt), cfg["fill"])
        if cfg["flip"]:
            flipped = draw(torch.rand, n) < 0.5
            x = torch.where(flipped[:, None, None, None], x.flip(2), x)
        if cfg["scaling"]:
            factor = 1 + cfg["scaling"] * draw(torch.randn, n, 1, 1, x.shape[3]).to(dt)
            x = mean + (x - mean) * factor
        if cfg["jitter"]:
            x = x + draw(torch.randn, x.shape).to(dt) * (cfg["jitter"] * std)
        if cfg["cutout"]:
            h, w = self.input_shape[:2]
            side = max(1, round(cfg["cutout"] * min(h, w)))
            top = draw(torch.randint, 0, h - side + 1, (n,))
            left = draw(torch.randint, 0, w - side + 1, (n,))
            rows = torch.arange(h, device=dev)[None, :] - top[:, None]
            cols = torch.arange(w, device=dev)[None, :] - left[:, None]
            inside = ((rows >= 0) & (rows < side))[:, :, None] & ((cols >= 0) & (cols < side))[:, None, :]
            x = torch.where(inside[..., None], mean, x)
        if cfg["mixup"]:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            lam = torch.from_numpy(np.random.default_rng(seed).beta(cfg["mixup"], cfg["mixup"], n)).to(dev, dt)
            partner = draw(torch.randperm, n)
            x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
            target = lam[:, None] * target + (1 - lam[:, None]) * target[partner]
        return x, target


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, fill: str = "edge") -> torch.Tensor:
    """Move each NHWC sample down by ``dy[i]`` rows and right by ``dx[i]`` columns (no wrapping).

    >>> shift(torch.arange(5.).reshape(1, 1, 5, 1), torch.tensor([0]), torch.tensor([2])).flatten()
    tensor([0., 0., 0., 1., 2.])
    """
    for axis, k in ((1, dy), (2, dx)):
        length = x.shape[axis]
        src = torch.arange(length, device=x.device)[None, :] - k[:, None]
        view = [len(x), 1, 1, 1]
        view[axis] = length
        idx = src.clamp(0, length - 1).view(view).expand(x.shape)
        moved = torch.gather(x, axis, idx)
        if fill == "zero":
            inside = ((src >= 0) & (src < length)).view(view)
            moved = moved * inside.to(x.dtype)
        x = moved
    return x


def time_warp(x: torch.Tensor, speeds: torch.Tensor) -> torch.Tensor:
    """Resample each 1-D NHWC sample along a smooth monotone time curve with fixed endpoints.

    ``speeds`` (N, K) are positive playback speeds at K evenly spaced knots: interpolated linearly to
    every step and accumulated, they give the source times, rescaled to run from 0 to W - 1.

    >>> time_warp(torch.arange(5.).reshape(1, 1, 5, 1), torch.tensor([[1., 1.]])).flatten()
    tensor([0., 1., 2., 3., 4.])
    """
    n, _, w, _ = x.shape
    v = F.interpolate(speeds[:, None, :], size=w, mode="linear", align_corners=True)[:, 0]
    steps = (v[:, 1:] + v[:, :-1]) / 2
    t = torch.cat([torch.zeros_like(v[:, :1]), steps.cumsum(1)], 1)
    t = (t * ((w - 1) / t[:, -1:])).clamp(0, w - 1)
    i0 = t.floor().long().clamp(max=w - 2)
    frac = (t - i0)[:, None, :, None]
    idx = i0[:, None, :, None].expand(x.shape)
    return torch.gather(x, 2, idx) * (1 - frac) + torch.gather(x, 2, idx + 1) * frac


def rotate(x: torch.Tensor, degrees: torch.Tensor, fill: str = "edge") -> torch.Tensor:
    """Rotate each NHWC image by ``degrees[i]`` about its centre (bilinear; positive turns the image
    clockwise as displayed, row 0 at the top); ``fill`` ``edge`` or ``zero`` outside the source.

    >>> img = torch.arange(4.).reshape(1, 2, 2, 1)
    >>> rotate(img, torch.tensor([90.]))[0, ..., 0]
    tensor([[2., 0.],
            [3., 1.]])
    """
    n, h, w, _ = x.shape
    rad = degrees * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, sin * (h / w), zero], 1),
                         torch.stack([-sin * (w / h), cos, zero], 1)], 1)
    grid = F.affine_grid(theta, [n, x.shape[3], h, w], align_corners=False)
    out = F.grid_sample(x.permute(0, 3, 1, 2), grid, mode="bilinear",
                        padding_mode="border" if fill == "edge" else "zeros", align_corners=False)
    return out.permute(0, 2, 3, 1).contiguous()
