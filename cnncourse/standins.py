"""Offline stand-ins for MNIST, Fashion-MNIST and CIFAR-10, for the smoke budget.

Scope: small, deterministic data sets with the shapes, dtype and number of
classes of the real ones, so that a notebook runs end to end on a machine with
no data and no network (CI). They are learnable well above chance by a small
CNN in seconds, but they are not the real data: ``cnncourse.data.load`` uses
them only in the smoke budget, and announces it once per process per data set.

- MNIST: scikit-learn's bundled 1,797 handwritten digits (8×8, values 0–16),
  resized to 20×20 and centred in 28×28 like MNIST; the first 1,500 are the
  training split, the other 297 the test split.
- Fashion-MNIST: generated 28×28 silhouettes, one kind per class (a T-shirt has
  short sleeves, a trouser two legs, a bag a handle...), with random size,
  position, brightness, stripes and noise.
- CIFAR-10: generated 32×32 colour scenes, one recipe per class (a ship is a
  hull on blue water under a sky, a frog a green blob with two eyes...), with
  random colours, positions and noise.

Same bytes on every call: each split draws from its own fixed NumPy seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["StandIn", "STANDINS", "make", "announce"]


@dataclass(frozen=True)
class StandIn:
    """What a notebook needs to know about one stand-in."""

    title: str  # the real data set's name as people write it
    description: str  # what the stand-in is, for the announcement
    mean: tuple[float, ...]  # per-channel mean of the training split, pixels scaled to [0, 1]
    std: tuple[float, ...]  # per-channel standard deviation, likewise
    generate: Callable[[str], tuple[np.ndarray, np.ndarray]]  # split -> (uint8 N×C×H×W, int64 N)


announced: set[str] = set()


def make(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The stand-in images (uint8 N×C×H×W) and labels (int64 N) of one split.

    Args:
        name: "mnist", "fashion_mnist" or "cifar10".
        split: "train" or "test".

    Example:
        >>> images, targets = make("mnist", "test")
        >>> tuple(images.shape), images.dtype
        ((297, 1, 28, 28), torch.uint8)
    """
    if name not in STANDINS:
        raise ValueError(f"there is no stand-in for {name!r}; the stand-ins are {', '.join(STANDINS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, targets = STANDINS[name].generate(split)
    return torch.from_numpy(images), torch.from_numpy(targets)


def announce(name: str) -> None:
    """Print, once per process per data set, that a stand-in replaces the real data.

    Example:
        >>> announce("mnist")  # doctest: +ELLIPSIS
        cnncourse: MNIST is not on this machine; using an offline stand-in (...). Real data: cnncourse data fetch mnist
    """
    if name in announced:
        return
    announced.add(name)
    spec = STANDINS[name]
    print(
        f"cnncourse: {spec.title} is not on this machine; using an offline stand-in "
        f"({spec.description}). Real data: cnncourse data fetch {name}",
        flush=True,
    )


# --- MNIST: scikit-learn's digits -------------------------------------------------

_DIGITS_TRAIN = 1500


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]  # N x 1 x 8 x 8, in [0, 1]
    big = torch.nn.functional.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    big = torch.nn.functional.pad(big, (4, 4, 4, 4))  # N x 1 x 28 x 28, a 4-pixel border as in MNIST
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    targets = digits.target.astype(np.int64)
    part = slice(0, _DIGITS_TRAIN) if split == "train" else slice(_DIGITS_TRAIN, None)
    return np.ascontiguousarray(images[part]), np.ascontiguousarray(targets[part])


# --- Fashion-MNIST: generated silhouettes ------------------------------------------

_FASHION_SIZES = {"train": 2000, "test": 400}
_FASHION_SEEDS = {"train": 1001, "test": 1002}


def _silhouette(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of one garment; u runs left to right, v top to bottom, about -12..12."""
    au = np.abs(u)
    if label == 0:  # T-shirt/top: a body and short sleeves
        return ((au < 6) & (v > -7) & (v < 10)) | ((au < 11) & (v > -7) & (v < -2))
    if label == 1:  # Trouser: a waistband and two legs
        return ((au < 6) & (v > -11) & (v < -6)) | ((au > 1) & (au < 6) & (v > -11) & (v < 11))
    if label == 2:  # Pullover: a body and long sleeves hanging down
        return ((au < 6) & (v > -8) & (v < 10)) | ((au > 6.5) & (au < 10) & (v > -8) & (v < 8))
    if label == 3:  # Dress: a long trapezoid
        return (v > -11) & (v < 11) & (au < 3 + 0.35 * (v + 11))
    if label == 4:  # Coat: a long body with a dark opening and long sleeves
        body = (au < 7) & (v > -11) & (v < 11) & (au > 0.8)
        return body | ((au > 7.5) & (au < 10.5) & (v > -11) & (v < 9))
    if label == 5:  # Sandal: thin straps over a sole
        straps = (au < 11) & (v > -3) & (v < 5) & (np.mod(v + 3, 3) < 1.2)
        return straps | ((au < 11) & (v > 5) & (v < 7))
    if label == 6:  # Shirt: a body, sleeves to the elbow and a V collar
        body = (au < 6.5) & (v > -9) & (v < 10) & ~(au < 2.5 - 0.6 * (v + 9))
        return body | ((au > 6.5) & (au < 10) & (v > -9) & (v < 3))
    if label == 7:  # Sneaker: a low shoe, toe to the left
        return (au < 11) & (v < 6) & (v > -4 + 0.45 * np.maximum(0, 4 - u))
    if label == 8:  # Bag: a box and a handle
        handle = (np.hypot(u, v + 3) > 3.5) & (np.hypot(u, v + 3) < 5.5) & (v < -3)
        return ((au < 9) & (v > -3) & (v < 10)) | handle
    # label == 9, Ankle boot: a shaft and a foot, toe to the left
    return ((u > -2) & (u < 5) & (v > -10) & (v < 8)) | ((u > -10) & (u < 5) & (v > 2) & (v < 8))


def _fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_FASHION_SEEDS[split])
    n = _FASHION_SIZES[split]
    targets = rng.permutation(np.arange(n) % 10).astype(np.int64)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    images = np.empty((n, 1, 28, 28), dtype=np.uint8)
    for i, label in enumerate(targets):
        scale = rng.uniform(0.8, 1.1)
        u = (xx - 13.5 - rng.uniform(-2, 2)) / scale
        v = (yy - 13.5 - rng.uniform(-2, 2)) / scale
        mask = _silhouette(int(label), u, v)
        angle, freq = rng.uniform(0, np.pi), rng.uniform(0.5, 2.0)
        stripes = 0.5 + 0.5 * np.sin(freq * (u * np.cos(angle) + v * np.sin(angle)))
        shade = rng.uniform(0.45, 1.0) * (1 - rng.uniform(0, 0.4) * stripes)
        picture = mask * shade * 255 + rng.normal(0, 12, size=mask.shape) * (mask | (rng.random(mask.shape) < 0.05))
        images[i, 0] = np.clip(picture, 0, 255).round().astype(np.uint8)
    return images, targets


# --- CIFAR-10: generated colour scenes ----------------------------------------------

_CIFAR_SIZES = {"train": 2000, "test": 400}
_CIFAR_SEEDS = {"train": 2001, "test": 2002}


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float = 0.12) -> np.ndarray:
    return np.clip(np.array(rgb) + rng.uniform(-amount, amount, size=3), 0, 1)


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    canvas[:, mask] = colour[:, None]


def _scene(label: int, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One 3×32×32 picture in [0, 1]; x runs left to right, y top to bottom, in pixels."""
    canvas = np.empty((3, 32, 32))
    cx, cy, s = 16 + rng.uniform(-3, 3), 16 + rng.uniform(-3, 3), rng.uniform(0.8, 1.2)
    u, v = (x - cx) / s, (y - cy) / s
    sky, grass, water = (0.55, 0.75, 0.95), (0.3, 0.55, 0.2), (0.1, 0.3, 0.65)
    indoor, road = (0.8, 0.72, 0.6), (0.45, 0.45, 0.45)
    horizon = 18 + rng.uniform(-3, 3)
    if label == 0:  # airplane: a pale cross in the sky
        canvas[:] = _jitter(rng, sky)[:, None, None] * (0.85 + 0.15 * y / 32)
        _paint(canvas, ((np.abs(v) < 1.8) & (np.abs(u) < 11)) | ((np.abs(u + 1) < 2) & (np.abs(v) < 9)), _jitter(rng, (0.85, 0.85, 0.88)))
    elif label == 1:  # automobile: a coloured car body with two wheels on a road
        canvas[:] = _jitter(rng, road)[:, None, None]
        _paint(canvas, (np.abs(u) < 10) & (v > -4) & (v < 3), _jitter(rng, (0.8, 0.1, 0.1), 0.25))
        _paint(canvas, (np.abs(u) < 5) & (v > -8) & (v <= -4), _jitter(rng, (0.6, 0.75, 0.9)))
        _paint(canvas, (np.hypot(u - 6, v - 4) < 2.6) | (np.hypot(u + 6, v - 4) < 2.6), np.array([0.05, 0.05, 0.05]))
    elif label == 2:  # bird: a small brown body with a yellow beak in the sky
        canvas[:] = _jitter(rng, sky)[:, None, None]
        _paint(canvas, ((u / 6) ** 2 + (v / 3.5) ** 2) < 1, _jitter(rng, (0.5, 0.35, 0.2)))
        _paint(canvas, (u > 5) & (u < 9) & (np.abs(v + 1) < 0.25 * (9 - u)), np.array([0.95, 0.8, 0.1]))
    elif label == 3:  # cat: a round head with two pointed ears, indoors
        canvas[:] = _jitter(rng, indoor)[:, None, None]
        ears = (v < -4) & (v > -11) & ((np.abs(np.abs(u) - 5) < 0.45 * (v + 11)))
        _paint(canvas, (np.hypot(u, v) < 7) | ears, _jitter(rng, (0.9, 0.55, 0.15), 0.2))
    elif label == 4:  # deer: a brown body on thin legs with antlers, in a forest
        canvas[:] = _jitter(rng, (0.2, 0.4, 0.15))[:, None, None]
        legs = (np.abs(np.abs(u) - 5) < 0.9) & (v > 0) & (v < 10)
        antlers = (np.abs(np.abs(u - 8) - 2) < 0.7) & (v > -12) & (v < -6)
        _paint(canvas, ((u / 8) ** 2 + (v / 3.5) ** 2 < 1) | legs | antlers | (np.hypot(u - 8, v + 5) < 2.2), _jitter(rng, (0.6, 0.4, 0.2)))
    elif label == 5:  # dog: a round head with floppy ears hanging down, on grass
        canvas[:] = _jitter(rng, grass)[:, None, None]
        _paint(canvas, np.hypot(u, v) < 6.5, _jitter(rng, (0.75, 0.6, 0.4), 0.2))
        _paint(canvas, ((np.abs(u) - 7) ** 2 / 4 + (v - 2) ** 2 / 25) < 1, _jitter(rng, (0.35, 0.2, 0.1)))
    elif label == 6:  # frog: a flat green blob with two bulging eyes
        canvas[:] = _jitter(rng, (0.35, 0.3, 0.2))[:, None, None]
        _paint(canvas, ((u / 10) ** 2 + ((v - 2) / 5) ** 2) < 1, _jitter(rng, (0.25, 0.75, 0.2)))
        _paint(canvas, np.hypot(np.abs(u) - 4.5, v + 3) < 2.2, np.array([0.95, 0.95, 0.3]))
    elif label == 7:  # horse: a long dark body, legs and a raised neck, sky over grass
        canvas[:] = np.where(y < horizon, 1.0, 0.0) * _jitter(rng, sky)[:, None, None]
        canvas += np.where(y >= horizon, 1.0, 0.0) * _jitter(rng, grass)[:, None, None]
        legs = ((np.abs(u - 6) < 1) | (np.abs(u + 6) < 1)) & (v > 0) & (v < 11)
        neck = (np.abs((u + 8) + 0.8 * (v + 3)) < 2.2) & (v > -10) & (v < 0)
        _paint(canvas, ((u / 9) ** 2 + (v / 3.5) ** 2 < 1) | legs | neck, _jitter(rng, (0.35, 0.2, 0.1)))
    elif label == 8:  # ship: a hull and a cabin on blue water under the sky
        canvas[:] = np.where(y < horizon, 1.0, 0.0) * _jitter(rng, sky)[:, None, None]
        canvas += np.where(y >= horizon, 1.0, 0.0) * _jitter(rng, water)[:, None, None]
        hv = y - horizon
        _paint(canvas, (hv > -3) & (hv < 2) & (np.abs(u) < 12 - 1.5 * (hv + 3)), _jitter(rng, (0.3, 0.3, 0.35)))
        _paint(canvas, (hv > -7) & (hv <= -3) & (np.abs(u + 2) < 4), _jitter(rng, (0.95, 0.95, 0.95)))
    else:  # truck: a tall cargo box and a cab with wheels on a road
        canvas[:] = _jitter(rng, road)[:, None, None]
        _paint(canvas, (u > -12) & (u < 4) & (v > -10) & (v < 4), _jitter(rng, (0.9, 0.9, 0.85), 0.3))
        _paint(canvas, (u >= 4) & (u < 11) & (v > -4) & (v < 4), _jitter(rng, (0.2, 0.3, 0.8), 0.25))
        _paint(canvas, (np.hypot(u - 7, v - 5) < 2.5) | (np.hypot(u + 7, v - 5) < 2.5), np.array([0.05, 0.05, 0.05]))
    return canvas


def _cifar(split: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_CIFAR_SEEDS[split])
    n = _CIFAR_SIZES[split]
    targets = rng.permutation(np.arange(n) % 10).astype(np.int64)
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    images = np.empty((n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(targets):
        picture = _scene(int(label), rng, x, y)
        if rng.random() < 0.5:
            picture = picture[:, :, ::-1]  # either way round, as photos are
        picture = picture * rng.uniform(0.7, 1.1) + rng.normal(0, 0.06, size=picture.shape)
        images[i] = np.clip(picture * 255, 0, 255).round().astype(np.uint8)
    return images, targets


STANDINS: dict[str, StandIn] = {
    "mnist": StandIn(
        title="MNIST",
        description="scikit-learn's 1,797 handwritten digits resized to 28×28",
        mean=(0.1557,),
        std=(0.2764,),
        generate=_digits,
    ),
    "fashion_mnist": StandIn(
        title="Fashion-MNIST",
        description="2,400 generated 28×28 clothing silhouettes",
        mean=(0.1925,),
        std=(0.3092,),
        generate=_fashion,
    ),
    "cifar10": StandIn(
        title="CIFAR-10",
        description="2,400 generated 32×32 colour scenes",
        mean=(0.4206, 0.4949, 0.4562),
        std=(0.2119, 0.2044, 0.2986),
        generate=_cifar,
    ),
}
