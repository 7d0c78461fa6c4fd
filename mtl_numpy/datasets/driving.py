r"""Synthetic street scenes for the lecture's four tasks.

The multi-task learning lecture looks at one picture from a car's camera and asks
four yes/no questions: is there a pedestrian, a car, a stop sign, a traffic light?
:func:`driving_scenes` draws such pictures procedurally, small enough to train on
a laptop:

* a background: a sky (day, overcast, sunset or night colours), a horizon at a
  random height, houses, a road with lane markings, and now and then street
  lamps, bins and billboards;
* each of the four objects, present or not with probability 0.5 each,
  independently, at a random position and size:

  - a **pedestrian** on a sidewalk (left or right third of the picture): a
    head and hands in varied skin tones, a body in any shirt colour (red
    included), two legs;
  - a **car** on the road (middle half): a body in a random colour (often red),
    a cabin with windows and two dark wheels;
  - a **stop sign** at the roadside (left or right third): a red octagon with
    a white rim and a white band, on a pole;
  - a **traffic light** mounted high (top in the upper fifth): a dark housing
    on a pole with three lamps, one lit in red, amber or green;

  Sizes follow a simple perspective: near objects stand low and are big, far
  ones stand near the horizon and are small. These zones are roughly what a
  camera on a car sees, and they matter for learning: a plain MLP has no
  translation invariance, so every position an object can take must be learnt
  separately (a CNN shares its filters across positions and needs far less data).

* occlusion: objects may overlap; every pixel shows the nearest object, and a
  scene is redrawn when any of its objects would be less than
  ``MIN_VISIBLE_FRACTION`` visible, so a label of 1 always means "you can see it";
* lighting and sensor noise: a global brightness factor and Gaussian pixel noise,
  then clipping into [0, 1].

The distractors are chosen so that no task can be solved from the mean colour of
the image: red cars, red shirts, red-brick houses, red billboards and sunsets
compete with the red of the stop sign; random sky and road colours and the
lighting move the mean colour more than any object does; street lamps are poles
with a bright lamp but no housing; bins and billboards are dark or coloured
boxes like a traffic light's housing. (``tests/test_datasets.py`` checks that a
classifier on colour statistics stays near chance.)

Every shape is drawn for a whole batch of scenes at once: a shape is a boolean
mask of shape ``(n, H*W)`` computed from a pixel grid and per-scene parameters
of shape ``(n, 1)`` by broadcasting, then painted with ``np.copyto``. There is
no Python loop over pixels or over scenes, which is what makes 20,000 scenes
take a few seconds (``benchmarks/bench_scenes.py``).

Three further arguments turn dials the experiments need (see :func:`driving_scenes`):
``relatedness`` draws the objects from a vocabulary of textured parts, shared between
the objects in proportion ``rho`` (the comment block "The relatedness dial" gives the
design and why); ``label_correlation`` makes the objects co-occur; and
``missing_mechanism="absent_skipped"`` hides labels of absent objects first ('?' not
at random). Their defaults give the scenes described above, bit for bit.

The module also defines :class:`TaskDataset`, the small container that both
this dataset and :func:`mtl_numpy.datasets.digits_tasks` return.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import ClassVar, NamedTuple

import numpy as np

from ..labels import TASKS, known_labels
from ._checks import hide_entries, validate_missing, validate_seed

__all__ = ["TASKS", "TaskDataset", "DrivingScenes", "driving_scenes", "MIN_VISIBLE_FRACTION",
           "MISSING_MECHANISMS", "PART_COLOURS", "PART_PATTERNS", "PART_MATERIALS", "SHARED_PARTS",
           "PRIVATE_PARTS", "CLUTTER_PARTS"]

#: A present object must keep at least this fraction of its pixels visible after
#: occlusion by the other objects; scenes that break it are redrawn.
MIN_VISIBLE_FRACTION = 0.6

#: Probability that each object is in a scene (independently of the others).
PRESENCE_PROBABILITY = 0.5

# Background clutter: the probability of each of the 3 houses, 2 street lamps and
# 2 bins/billboards of a scene.
_P_HOUSE, _P_LAMP, _P_BOX = 0.6, 0.15, 0.15

# Scenes are drawn in chunks of about this many pixels (per channel) so that the
# temporary (n, H*W) masks stay small; the chunk size depends only on
# image_size, so the result depends only on (m, image_size, seed).
_CHUNK_PIXELS = 1 << 19


# --------------------------------------------------------------------------- #
# The dataset container
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TaskDataset:
    """Images with one yes/no label per task, some labels possibly '?'.

    Attributes
    ----------
    X : ndarray of shape (m, n_H, n_W, n_C), float32
        Images in [0, 1], channels last (the course's CNN layout).
    Y : ndarray of shape (n_tasks, m), float64
        Labels as given to the learner: ``0.0``, ``1.0`` or ``nan`` for '?'.
    Y_true : ndarray of shape (n_tasks, m), float64
        The full truth, only ``0.0`` and ``1.0``; ``Y`` equals it wherever ``Y``
        is not ``nan``. Use it to evaluate, never to train.
    tasks : tuple of str, length n_tasks
        The task names, in the row order of ``Y``.

    Notes
    -----
    The dataclass is frozen (its attributes cannot be rebound), but the arrays
    themselves are ordinary writable NumPy arrays; no function of this package
    modifies them in place. Methods that select examples return new datasets.
    """

    X: np.ndarray
    Y: np.ndarray
    Y_true: np.ndarray
    tasks: tuple

    # How to slice each per-example field: the axis that indexes examples.
    _example_axis: ClassVar[dict] = {"X": 0, "Y": 1, "Y_true": 1}

    @property
    def m(self) -> int:
        """Number of examples."""
        return self.X.shape[0]

    @property
    def n_tasks(self) -> int:
        """Number of tasks (rows of ``Y``)."""
        return len(self.tasks)

    def __len__(self) -> int:
        return self.m

    def __repr__(self) -> str:
        known = np.mean(known_labels(self.Y), axis=1) if self.m else np.zeros(self.n_tasks)
        per_task = ", ".join(f"{t}: {k:.0%}" for t, k in zip(self.tasks, known))
        return (
            f"{type(self).__name__}(m={self.m}, X shape={self.X.shape}, "
            f"labelled per task: {per_task})"
        )

    def flat(self) -> np.ndarray:
        """The images as the MLP's input matrix, one column per example.

        Returns
        -------
        X_flat : ndarray of shape (n_x, m), float32, C-contiguous
            ``n_x = n_H * n_W * n_C``; column ``i`` is ``X[i].ravel()``, i.e. the
            example flattened row-major over (n_H, n_W, n_C), as the package's flatten layer does.
            A new array: changing it does not change ``X``.
        """
        return np.array(self.X.reshape(self.m, -1).T, dtype=np.float32, order="C", copy=True)

    def subset(self, index) -> "TaskDataset":
        """A new dataset made of the examples ``index`` selects.

        Parameters
        ----------
        index : slice, int array of shape (k,), or bool array of shape (m,)
            Which examples to keep, in the given order.

        Returns
        -------
        TaskDataset
            Of the same class, with copies of the selected examples.
        """
        changes = {}
        for name, axis in self._example_axis.items():
            value = getattr(self, name)
            sl = (slice(None),) * axis + (index,)
            changes[name] = np.array(value[sl], copy=True)
        return dataclasses.replace(self, **changes)

    def split(self, n_test: int):
        """Split into a training set (first ``m - n_test``) and a test set (last ``n_test``).

        The scenes are independent draws, so the last ``n_test`` are as good a
        random sample as any; no shuffling is needed.

        Parameters
        ----------
        n_test : int
            Number of test examples, ``0 < n_test < m``.

        Returns
        -------
        train, test : TaskDataset
            ``train`` holds examples ``[0, m - n_test)``, ``test`` the rest.
        """
        if (
            not isinstance(n_test, numbers.Integral)
            or isinstance(n_test, bool)
            or not 0 < n_test < self.m
        ):
            raise ValueError(
                f"n_test must be an int with 0 < n_test < m = {self.m}; got {n_test!r}"
            )
        n_train = self.m - int(n_test)
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, self.m))

    def hide_labels(self, missing, seed=0) -> "TaskDataset":
        """A copy whose labels are hidden ('?') anew from ``Y_true``.

        Useful for experiments such as "the traffic-light task has only 1% of its
        labels": ``data.hide_labels((0, 0, 0, 0.99))``.

        Parameters
        ----------
        missing : float or sequence of n_tasks floats, each in [0, 1]
            Probability that a label is hidden, for all tasks or per task.
        seed : int or None, default 0
            Seed of the random generator that picks the hidden labels.

        Returns
        -------
        TaskDataset
            Same ``X`` and ``Y_true`` (copied), new ``Y`` of shape (n_tasks, m).
        """
        rates = validate_missing(missing, self.n_tasks)
        validate_seed(seed)
        rng = np.random.default_rng(seed)
        hidden = rng.random((self.n_tasks, self.m)) < rates[:, None]
        return dataclasses.replace(
            self,
            X=self.X.copy(),
            Y=np.where(hidden, np.nan, self.Y_true),
            Y_true=self.Y_true.copy(),
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class DrivingScenes(TaskDataset):
    """Street scenes returned by :func:`driving_scenes`; see :class:`TaskDataset`.

    ``X`` has shape (m, image_size, image_size, 3) and ``tasks`` is
    ``("pedestrian", "car", "stop_sign", "traffic_light")``.
    """


# --------------------------------------------------------------------------- #
# Drawing primitives: boolean masks of shape (n, P) by broadcasting
# --------------------------------------------------------------------------- #
# Layout used while drawing (chosen for speed; the public X is (m, H, W, 3)):
#   * the pixels of an image are flattened to one axis of length P = H * W, and
#     the grid holds each pixel's centre coordinates yy, xx of shape (P,);
#   * a per-scene parameter of shape (n,) becomes a column (n, 1) with `_c`, so
#     a comparison with the grid broadcasts to a mask of shape (n, P);
#   * images are stored channels first, (3, n, P): painting a colour is then
#     three long, contiguous `np.copyto` loops instead of millions of length-3 ones.


class _Grid(NamedTuple):
    """Pixel-centre coordinates of an H x W image, flattened, and the size scale."""

    yy: np.ndarray  # (P,) row coordinate of each pixel centre, 0.5 .. H - 0.5
    xx: np.ndarray  # (P,) column coordinate
    H: int
    W: int
    s: float  # image_size / 32: every size below is given for 32 px and scaled by s
    line: float  # half-width of poles and lane marks: at least half a pixel, so that
    #              they never fall between pixel centres in small images

    @classmethod
    def square(cls, size):
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
        s = size / 32.0
        return cls(yy.ravel(), xx.ravel(), size, size, s, 0.5 * max(s, 1.0))


def _c(values) -> np.ndarray:
    """Per-scene values of shape (n,) as a float32 column of shape (n, 1)."""
    return np.asarray(values, dtype=np.float32)[:, None]


def _rect(g, top, bottom, left, right) -> np.ndarray:
    """Mask (n, P) of the axis-aligned boxes ``top <= y < bottom, left <= x < right``."""
    return (g.yy >= _c(top)) & (g.yy < _c(bottom)) & (g.xx >= _c(left)) & (g.xx < _c(right))


def _disc(g, cy, cx, r) -> np.ndarray:
    """Mask (n, P) of the discs of centre (cy, cx) and radius r."""
    return (g.yy - _c(cy)) ** 2 + (g.xx - _c(cx)) ** 2 <= _c(r) ** 2


def _octagon(g, cy, cx, a) -> np.ndarray:
    r"""Mask (n, P) of the regular octagons of centre (cy, cx) and apothem a (flat top).

    A regular octagon with flat top and sides is the intersection of a square
    :math:`\max(|dx|, |dy|) \le a` and a square turned by 45 degrees,
    :math:`(|dx| + |dy|) / \sqrt{2} \le a`.
    """
    dy = np.abs(g.yy - _c(cy))
    dx = np.abs(g.xx - _c(cx))
    return (np.maximum(dx, dy) <= _c(a)) & (dx + dy <= _c(a) * np.float32(math.sqrt(2.0)))


def _present(flags) -> np.ndarray:
    """Per-scene booleans (n,) as a mask column (n, 1), to switch a shape on or off."""
    return np.asarray(flags, dtype=bool)[:, None]


def _paint(image, mask, rgb) -> None:
    """Paint colour ``rgb`` (n, 3) into ``image`` (3, n, P) where ``mask`` (n, P) is True."""
    rgb = np.asarray(rgb, dtype=np.float32)
    for ch in range(3):
        np.copyto(image[ch], rgb[:, ch, None], where=mask)


def _jitter(rng, base, n, spread):
    """``n`` colours near ``base`` (3,) or (n, 3): +-spread uniform noise per channel, clipped."""
    return np.clip(np.asarray(base) + rng.uniform(-spread, spread, (n, 3)), 0.0, 1.0)


def _random_colour(rng, n, p_red=0.3):
    """``n`` random RGB colours, a fraction ``p_red`` of them red (a stop-sign distractor)."""
    colour = rng.uniform(0.05, 0.95, (n, 3))
    red = rng.random(n) < p_red
    colour[red] = _red(rng, int(red.sum()))
    return colour


def _red(rng, n):
    """``n`` shades of stop-sign red."""
    return np.column_stack(
        [rng.uniform(0.65, 0.95, n), rng.uniform(0.0, 0.12, n), rng.uniform(0.0, 0.12, n)]
    )


def _ground(rng, horizon, height, H):
    """A ground line (y of an object's base) below the horizon, with room for ``height`` above."""
    return _fit(rng.uniform(horizon + 0.5, H - 0.5), height, H)


def _fit(ground, height, H):
    """Move ground lines (n,) so that an object ``height`` (n,) tall fits in the image."""
    return np.clip(ground, height + 0.5, H - 0.5)


def _roadside(rng, n, W, half_width):
    """Centres (n,) in the left or right third of the picture (the sidewalks).

    Objects ``2 * half_width`` (n,) wide stay inside the image.
    """
    cx = half_width + rng.uniform(0, 1, n) * np.maximum(W / 3 - half_width, 0)
    return np.where(rng.random(n) < 0.5, cx, W - cx)


def _place(rng, n, g, horizon, lo, hi):
    """Perspective placement: a random distance gives a size and a ground line.

    Near objects stand low in the picture and are big, far ones stand near the
    horizon and are small (with some jitter), as through a real camera. Tying
    size to height this way keeps the scenes plausible and the tasks learnable.

    Returns
    -------
    size : ndarray of shape (n,)
        In ``[lo, hi] * s`` pixels.
    ground : ndarray of shape (n,)
        Row of the object's base, between the horizon and the bottom edge.
    """
    near = rng.random(n)  # 0 = at the horizon, 1 = right in front of the camera
    size = lo + (hi - lo) * np.clip(near + rng.uniform(-0.2, 0.2, n), 0.0, 1.0)
    ground = horizon + (0.15 + 0.85 * near) * (g.H - horizon)
    return size * g.s, ground


# --------------------------------------------------------------------------- #
# Backgrounds
# --------------------------------------------------------------------------- #
# Sky colours at the top and at the horizon: day, overcast, sunset, night.
_SKY_TOP = np.array(
    [[0.30, 0.50, 0.90], [0.55, 0.57, 0.60], [0.35, 0.25, 0.50], [0.02, 0.03, 0.12]]
)
_SKY_LOW = np.array(
    [[0.70, 0.85, 1.00], [0.75, 0.76, 0.78], [0.95, 0.50, 0.25], [0.12, 0.12, 0.28]]
)
# Trousers: denim, black, grey, khaki, brown.
_TROUSERS = np.array([[0.15, 0.22, 0.45], [0.08, 0.08, 0.10], [0.35, 0.35, 0.38],
                      [0.55, 0.50, 0.35], [0.30, 0.20, 0.12]])
_SKIN = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.52], [0.70, 0.50, 0.35], [0.45, 0.30, 0.20]])


def _draw_background(rng, n, g):
    """Sky, houses, road, lane marks and street clutter for ``n`` scenes.

    Returns
    -------
    image : ndarray of shape (3, n, P), float32
    horizon : ndarray of shape (n,)
        Row (in pixels) of the horizon; objects stand below it.
    """
    H, W, s = g.H, g.W, g.s
    image = np.empty((3, n, H * W), dtype=np.float32)

    # Sky: a vertical gradient from the palette's top colour to its horizon colour.
    horizon = rng.uniform(0.38, 0.5, n) * H
    kind = rng.integers(0, len(_SKY_TOP), n)
    top = _jitter(rng, _SKY_TOP[kind], n, 0.08)
    low = _jitter(rng, _SKY_LOW[kind], n, 0.08)
    t = np.clip(g.yy / _c(horizon), 0.0, 1.0)  # (n, P): 0 at the top, 1 at the horizon
    for ch in range(3):
        image[ch] = _c(top[:, ch]) + t * _c(low[:, ch] - top[:, ch])

    # Houses: up to three boxes standing on the horizon.
    for _ in range(3):
        present = rng.random(n) < _P_HOUSE
        left = rng.uniform(-0.1, 0.9, n) * W
        width = rng.uniform(0.15, 0.4, n) * W
        roof = horizon - rng.uniform(0.1, 0.35, n) * H
        house = _rect(g, roof, horizon + 0.5, left, left + width) & _present(present)
        # Muted (mixed with their own grey) and not too dark, so that a house is
        # not a giant traffic-light housing; still red-brick now and then.
        colour = _random_colour(rng, n, p_red=0.3)
        colour = 0.4 * colour + 0.6 * colour.mean(axis=1, keepdims=True)
        colour = 0.3 + 0.65 * colour
        _paint(image, house, colour)

    # Road: grey asphalt, tinted, lighter or darker per scene.
    grey = rng.uniform(0.2, 0.55, n)
    asphalt = np.clip(grey[:, None] + rng.uniform(-0.05, 0.05, (n, 3)), 0.0, 1.0)
    _paint(image, g.yy >= _c(horizon), asphalt)

    # Lane marks: dashes of white or yellow paint across the road.
    lane_y = horizon + rng.uniform(0.35, 0.75, n) * (H - horizon)
    phase = rng.uniform(0, 6 * s, n)
    dashes = ((g.xx + _c(phase)) % np.float32(6 * s)) < np.float32(3 * s)
    lane = (np.abs(g.yy - _c(lane_y)) <= np.float32(g.line)) & dashes
    lane &= _present(rng.random(n) < 0.7)
    paint = np.where(rng.random(n)[:, None] < 0.5, [0.9, 0.9, 0.9], [0.9, 0.8, 0.2])
    _paint(image, lane, _jitter(rng, paint, n, 0.05))

    # Clutter that looks like parts of the objects but is none of them.
    for _ in range(2):
        # A street lamp: a pole (like a sign's) with a bright lamp but no housing.
        x = rng.uniform(0.05, 0.95, n) * W
        foot = _ground(rng, horizon, 14 * s, H)
        head = foot - rng.uniform(8, 14, n) * s
        pole = _rect(g, head, foot, x - g.line, x + g.line)
        lamp = _disc(g, head, x, rng.uniform(0.8, 1.4, n) * s)
        keep = _present(rng.random(n) < _P_LAMP)
        _paint(image, pole & keep, _jitter(rng, [0.45, 0.45, 0.45], n, 0.1))
        _paint(image, lamp & keep, _jitter(rng, [1.0, 0.92, 0.65], n, 0.08))

        # A bin or billboard: a box about the size of a traffic light or a sign,
        # dark or coloured (red ones included).
        w = rng.uniform(3, 7, n) * s
        h = rng.uniform(3, 9, n) * s
        x0 = rng.uniform(0, 1, n) * (W - w)
        y1 = _ground(rng, horizon, h, H)
        box = _rect(g, y1 - h, y1, x0, x0 + w) & _present(rng.random(n) < _P_BOX)
        dark = rng.random(n)[:, None] < 0.4
        box_colour = np.where(dark, _jitter(rng, [0.12, 0.12, 0.12], n, 0.08),
                              _random_colour(rng, n, p_red=0.4))
        _paint(image, box, box_colour)

    return image, horizon


# --------------------------------------------------------------------------- #
# The four objects: each returns (layer (3, n, P), cover (n, P))
# --------------------------------------------------------------------------- #
def _draw_pedestrian(rng, n, g, horizon):
    """Head, body with arms and hands, two legs; ~12-16 px tall at 32 px.

    Pedestrians walk on the sidewalks, in the left or right third of the
    picture. The shirt is any colour (red too); trousers come from a palette.
    """
    H, W, s = g.H, g.W, g.s
    height, feet = _place(rng, n, g, horizon, 12, 16)
    r_head = rng.uniform(0.14, 0.16, n) * height
    body_w = rng.uniform(0.45, 0.51, n) * height  # shoulders, arms included
    cx = _roadside(rng, n, W, 0.5 * (body_w + 1))
    feet = _fit(feet, height, H)
    top = feet - height
    neck = top + 2 * r_head
    hips = neck + rng.uniform(0.36, 0.42, n) * height
    arm_w = 0.2 * body_w  # the arms are the outer strips of the body
    hip_w = body_w - 2 * arm_w
    leg_w = 0.4 * hip_w

    head = _disc(g, top + r_head, cx, r_head)
    body = _rect(g, neck - 0.1 * s, hips, cx - body_w / 2, cx + body_w / 2)
    legs = _rect(g, hips, feet, cx - hip_w / 2, cx - hip_w / 2 + leg_w) | _rect(
        g, hips, feet, cx + hip_w / 2 - leg_w, cx + hip_w / 2
    )
    # Hands: skin-coloured ends of the arms, just below the hips.
    wrist, fingers = hips - 1.5 * arm_w, hips + 0.5 * arm_w
    hands = _rect(g, wrist, fingers, cx - body_w / 2, cx + body_w / 2) & ~_rect(
        g, wrist, fingers, cx - body_w / 2 + arm_w, cx + body_w / 2 - arm_w
    )

    layer = np.zeros((3, n, H * W), dtype=np.float32)
    skin = _jitter(rng, _SKIN[rng.integers(0, len(_SKIN), n)], n, 0.04)
    _paint(layer, head, skin)
    _paint(layer, body, _random_colour(rng, n, p_red=0.3))
    _paint(layer, legs, _jitter(rng, _TROUSERS[rng.integers(0, len(_TROUSERS), n)], n, 0.06))
    _paint(layer, hands, skin)
    return layer, head | body | legs | hands


def _draw_car(rng, n, g, horizon):
    """Body in a random colour, cabin with windows, two wheels; ~10-16 px wide at 32 px.

    Cars drive on the road: their centre is in the middle half of the picture.
    """
    H, W = g.H, g.W
    width, ground = _place(rng, n, g, horizon, 10, 16)
    body_h = rng.uniform(0.26, 0.34, n) * width
    cabin_h = rng.uniform(0.20, 0.28, n) * width
    cabin_w = rng.uniform(0.5, 0.65, n) * width
    r_wheel = rng.uniform(0.11, 0.14, n) * width
    left = np.clip(rng.uniform(0.25, 0.75, n) * W - width / 2, 0, W - width)
    ground = _fit(ground, body_h + cabin_h + 2 * r_wheel, H)
    body_bottom = ground - 0.8 * r_wheel
    body_top = body_bottom - body_h
    cabin_left = left + (width - cabin_w) * rng.uniform(0.3, 0.7, n)
    glass = 0.12 * width  # window inset from the cabin's sides and roof

    body = _rect(g, body_top, body_bottom, left, left + width)
    cabin = _rect(g, body_top - cabin_h, body_top, cabin_left, cabin_left + cabin_w)
    windows = _rect(g, body_top - cabin_h + glass, body_top,
                    cabin_left + glass, cabin_left + cabin_w - glass)
    wheels = _disc(g, ground - r_wheel, left + 0.22 * width, r_wheel) | _disc(
        g, ground - r_wheel, left + 0.78 * width, r_wheel
    )

    layer = np.zeros((3, n, H * W), dtype=np.float32)
    colour = _random_colour(rng, n, p_red=0.3)
    _paint(layer, body | cabin, colour)
    _paint(layer, windows, _jitter(rng, [0.25, 0.32, 0.42], n, 0.1))
    _paint(layer, wheels, _jitter(rng, [0.07, 0.07, 0.07], n, 0.05))
    return layer, body | cabin | wheels


def _draw_stop_sign(rng, n, g, horizon):
    """Red octagon (apothem ~3-5 px at 32 px) with a white rim and band, on a grey pole.

    Stop signs stand at the roadside: in the left or the right third of the picture.
    """
    H, W, s = g.H, g.W, g.s
    a, ground = _place(rng, n, g, horizon, 3, 5)
    cx = _roadside(rng, n, W, a + 0.5)
    pole_len = rng.uniform(1.2, 2.5, n) * a
    ground = _fit(ground, pole_len + a, H)
    cy = ground - pole_len

    rim = _octagon(g, cy, cx, a)
    face = _octagon(g, cy, cx, a - np.maximum(0.15 * a, 0.5 * s))
    band = _rect(g, cy - 0.2 * a, cy + 0.2 * a, cx - 0.6 * a, cx + 0.6 * a)
    pole = _rect(g, cy, ground, cx - g.line, cx + g.line)

    layer = np.zeros((3, n, H * W), dtype=np.float32)
    _paint(layer, pole, _jitter(rng, [0.5, 0.5, 0.5], n, 0.1))
    _paint(layer, rim, _jitter(rng, [0.92, 0.92, 0.92], n, 0.06))
    _paint(layer, face, _red(rng, n))
    _paint(layer, band & face, _jitter(rng, [0.92, 0.92, 0.92], n, 0.06))
    return layer, rim | pole


# Lamp colours of a traffic light: red, amber, green.
_LAMPS = np.array([[1.0, 0.12, 0.08], [1.0, 0.70, 0.05], [0.10, 0.95, 0.35]])


def _draw_traffic_light(rng, n, g, horizon):
    """Dark housing (~4 x 9 px at 32 px) with three lamps, one lit, on a pole.

    Traffic lights are mounted high: the housing's top is in the upper fifth of
    the picture, and its pole reaches down to the ground.
    """
    H, W, s = g.H, g.W, g.s
    width, ground = _place(rng, n, g, horizon, 3.5, 5.0)
    height = rng.uniform(2.1, 2.4, n) * width
    left = rng.uniform(0, 1, n) * (W - width)
    cx = left + width / 2
    top = rng.uniform(0.02, 0.2, n) * H
    bottom = top + height
    ground = np.clip(ground, bottom + s, H - 0.5)

    housing = _rect(g, top, bottom, left, left + width)
    pole = _rect(g, bottom, ground, cx - g.line, cx + g.line)
    lit = rng.integers(0, 3, n)  # 0 red (top), 1 amber (middle), 2 green (bottom)
    r_lamp = 0.3 * width

    layer = np.zeros((3, n, H * W), dtype=np.float32)
    _paint(layer, pole, _jitter(rng, [0.5, 0.5, 0.5], n, 0.1))
    _paint(layer, housing, _jitter(rng, [0.12, 0.12, 0.12], n, 0.07))
    for k in range(3):
        lamp = _disc(g, top + height * (2 * k + 1) / 6, cx, r_lamp) & housing
        on = _present(lit == k)
        _paint(layer, lamp & on, _jitter(rng, _LAMPS[k], n, 0.05))
        _paint(layer, lamp & ~on, _LAMPS[k] * rng.uniform(0.2, 0.35, (n, 1)))
    return layer, housing | pole


_DRAWERS = {
    "pedestrian": _draw_pedestrian,
    "car": _draw_car,
    "stop_sign": _draw_stop_sign,
    "traffic_light": _draw_traffic_light,
}


# --------------------------------------------------------------------------- #
# The relatedness dial: objects built from a vocabulary of parts
# --------------------------------------------------------------------------- #
# With ``relatedness=rho`` (a number) every object is drawn as an arrangement of
# 2-3 components (a pedestrian's head, torso and legs; a car's body, cabin and
# wheels; a stop sign's octagon and pole; a traffic light's housing, lamps and
# pole), and every component is filled with a *material*: a two-colour texture
# (colour a, colour b, pattern). The materials are the low-level features: what
# a first conv layer must learn to tell them apart is a conjunction of two
# colours and an orientation (horizontal stripes, vertical stripes or a checker),
# at the scale of single pixels.
#
# Six colours give 15 colour pairs; with 3 patterns, 45 materials. They are
# split once, by a fixed rule:
#   * five vocabularies of 3 materials each: the SHARED one (index 0) and one
#     PRIVATE vocabulary per object (index 1 + k). Vocabulary v takes the three
#     colour pairs of the v-th perfect matching of the six colours (a
#     1-factorisation of K6, so every vocabulary uses every colour exactly once
#     and no two vocabularies share a colour pair) and gives them the three
#     patterns, one each;
#   * the other 30 materials (every colour pair with the two patterns its
#     vocabulary did not give it) belong to no object: CLUTTER.
# So every colour, every pattern and every colour pair occurs in vocabularies and
# in clutter alike; only the conjunction says which vocabulary a material is in.
#
# A component of object k takes a material from the shared vocabulary with
# probability rho and from k's private one otherwise (uniformly within the
# vocabulary), independently per component and scene. At rho = 1 the four
# objects are made of the same three materials and differ only in the shapes and
# arrangement of their components and where they stand; at rho = 0 no two
# objects have a material in common; in between, a fraction rho of every
# object's components is made of shared parts.
#
# The difficulty sits in the materials: each scene also holds *decoys* (with
# probability _P_DECOY per object kind, the object's silhouette in materials that
# are not its own -- a mannequin, a car on a billboard, a sign-shaped board) and
# textured patches in any of the 45 materials. A decoy's components are clutter
# with probability rho and otherwise another object's private materials, so that
# at low rho, too, an object's materials turn up in silhouettes that are not that
# object (at high rho the other objects themselves carry them). A silhouette alone
# does not answer "is there a car?", and neither does a material alone: the task
# is "this arrangement, made of my vocabulary's materials". The arrangement and
# zone are each task's own; the material detectors are what related tasks (rho
# near 1) can share. The balance is not exact: at rho = 1 the three other objects
# carry a task's materials, more often than the decoys do at rho = 0, and the
# tasks are harder at high rho (docs/experiments.md, section 7).

#: Colours of the part materials: red, green, blue, yellow, white, black.
PART_COLOURS = np.array([[0.90, 0.10, 0.10], [0.10, 0.75, 0.20], [0.15, 0.30, 0.95],
                         [0.95, 0.85, 0.10], [0.95, 0.95, 0.95], [0.05, 0.05, 0.05]])

#: Texture patterns of the materials, in the order of a material's third entry.
PART_PATTERNS = ("horizontal_stripes", "vertical_stripes", "checker")


def _part_vocabularies():
    """The 45 materials and their split into 5 vocabularies of 3 and 30 clutter materials."""
    n = len(PART_COLOURS)  # 6: colours 0..4 rotate around colour 5 (the round-robin 1-factorisation)
    matchings = []
    for r in range(n - 1):
        matchings.append([(r, n - 1), ((r + 1) % (n - 1), (r + 4) % (n - 1)),
                          ((r + 2) % (n - 1), (r + 3) % (n - 1))])
    materials, vocabularies = [], []
    for pairs in matchings:
        vocabulary = []
        for p, (a, b) in enumerate(pairs):
            vocabulary.append(len(materials))
            materials.append((min(a, b), max(a, b), p))
        vocabularies.append(vocabulary)
    clutter = []
    for pairs in matchings:
        for p, (a, b) in enumerate(pairs):
            for q in range(len(PART_PATTERNS)):
                if q != p:
                    clutter.append(len(materials))
                    materials.append((min(a, b), max(a, b), q))
    return np.array(materials), np.array(vocabularies), np.array(clutter)


#: PART_MATERIALS[i] = (colour a, colour b, pattern) of material i, shape (45, 3);
#: SHARED_PARTS (3,): the shared vocabulary; PRIVATE_PARTS (4, 3): object k's own
#: vocabulary in row k (order of TASKS); CLUTTER_PARTS (30,): materials of no object.
PART_MATERIALS, _VOCABULARIES, CLUTTER_PARTS = _part_vocabularies()
SHARED_PARTS, PRIVATE_PARTS = _VOCABULARIES[0], _VOCABULARIES[1:]

# Probability, per scene and object kind, of a decoy (the object's silhouette in
# materials not its own), and of each of the two textured background patches.
_P_DECOY, _P_PATCH = 0.5, 0.5
# Objects of the parts scenes are this much bigger than the original ones, so that
# a component is at least a few pixels across at 16x16 and shows its texture.
_PART_SCALE = 1.3


def _choose_materials(rng, n, n_components, k, relatedness):
    """Materials (n, n_components) of object ``k``'s components: shared with probability rho."""
    shared = rng.random((n, n_components)) < relatedness
    pick = rng.integers(0, SHARED_PARTS.size, (n, n_components))
    return np.where(shared, SHARED_PARTS[pick], PRIVATE_PARTS[k][pick])


def _decoy_materials(rng, n, n_components, k, relatedness):
    """Materials (n, n_components) of a decoy with object ``k``'s silhouette.

    Each component is clutter with probability ``rho`` and otherwise from the
    private vocabulary of one other object ``l != k`` (one ``l`` per decoy). So a
    decoy is never made of ``k``'s own materials at any ``rho``, and at low ``rho``
    every object's materials also turn up in silhouettes that are not that object
    (as the shared materials do, in the other objects, at high ``rho``): a task
    needs its arrangement *and* its materials at every setting of the dial.
    """
    other = (k + rng.integers(1, len(TASKS), n)) % len(TASKS)  # (n,), never k
    pick = rng.integers(0, PRIVATE_PARTS.shape[1], (n, n_components))
    clutter = CLUTTER_PARTS[rng.integers(0, len(CLUTTER_PARTS), (n, n_components))]
    to_clutter = rng.random((n, n_components)) < relatedness
    return np.where(to_clutter, clutter, PRIVATE_PARTS[other[:, None], pick])


def _pattern_fields(g):
    """Boolean fields (3, P): where each pattern shows colour a (before a random phase)."""
    cell = max(1, int(round(g.H / 16)))  # one pixel at 16x16, two at 32x32
    row = (g.yy // cell).astype(np.int64)
    col = (g.xx // cell).astype(np.int64)
    return np.stack([row % 2 == 0, col % 2 == 0, (row + col) % 2 == 0])


def _paint_material(rng, layer, mask, material, fields):
    """Paint materials (n,) into ``layer`` (3, n, P) where ``mask`` (n, P) is True."""
    n = material.shape[0]
    a, b, pattern = PART_MATERIALS[material].T
    flip = _present(rng.random(n) < 0.5)  # random phase of the texture
    on = fields[pattern] ^ flip  # (n, P): pixels showing colour a
    colour_a = _jitter(rng, PART_COLOURS[a], n, 0.05).astype(np.float32)
    colour_b = _jitter(rng, PART_COLOURS[b], n, 0.05).astype(np.float32)
    on &= mask
    for ch in range(3):  # colour b over the whole mask, then colour a where the pattern is on
        np.copyto(layer[ch], colour_b[:, ch, None], where=mask)
        np.copyto(layer[ch], colour_a[:, ch, None], where=on)


def _parts_pedestrian(rng, n, g, horizon):
    """Components: head, torso (arms included), legs; on a sidewalk, ~16-21 px tall at 32 px."""
    H, W, s = g.H, g.W, g.s
    height, feet = _place(rng, n, g, horizon, 12 * _PART_SCALE, 16 * _PART_SCALE)
    r_head = rng.uniform(0.14, 0.16, n) * height
    body_w = rng.uniform(0.45, 0.51, n) * height
    cx = _roadside(rng, n, W, 0.5 * (body_w + 1))
    feet = _fit(feet, height, H)
    top = feet - height
    neck = top + 2 * r_head
    hips = neck + rng.uniform(0.36, 0.42, n) * height
    hip_w = 0.6 * body_w
    leg_w = 0.4 * hip_w
    head = _disc(g, top + r_head, cx, r_head)
    torso = _rect(g, neck - 0.1 * s, hips, cx - body_w / 2, cx + body_w / 2)
    legs = _rect(g, hips, feet, cx - hip_w / 2, cx - hip_w / 2 + leg_w) | _rect(
        g, hips, feet, cx + hip_w / 2 - leg_w, cx + hip_w / 2)
    return [head, torso, legs]


def _parts_car(rng, n, g, horizon):
    """Components: body, cabin, two wheels; on the road, ~13-21 px wide at 32 px."""
    H, W = g.H, g.W
    width, ground = _place(rng, n, g, horizon, 10 * _PART_SCALE, 16 * _PART_SCALE)
    body_h = rng.uniform(0.26, 0.34, n) * width
    cabin_h = rng.uniform(0.20, 0.28, n) * width
    cabin_w = rng.uniform(0.5, 0.65, n) * width
    r_wheel = rng.uniform(0.12, 0.15, n) * width
    left = np.clip(rng.uniform(0.25, 0.75, n) * W - width / 2, 0, W - width)
    ground = _fit(ground, body_h + cabin_h + 2 * r_wheel, H)
    body_bottom = ground - 0.8 * r_wheel
    body_top = body_bottom - body_h
    cabin_left = left + (width - cabin_w) * rng.uniform(0.3, 0.7, n)
    body = _rect(g, body_top, body_bottom, left, left + width)
    cabin = _rect(g, body_top - cabin_h, body_top, cabin_left, cabin_left + cabin_w)
    wheels = _disc(g, ground - r_wheel, left + 0.22 * width, r_wheel) | _disc(
        g, ground - r_wheel, left + 0.78 * width, r_wheel)
    return [body & ~wheels, cabin, wheels]


def _parts_stop_sign(rng, n, g, horizon):
    """Components: octagon, pole; at the roadside, apothem ~4-6.5 px at 32 px."""
    H, W = g.H, g.W
    a, ground = _place(rng, n, g, horizon, 3 * _PART_SCALE, 5 * _PART_SCALE)
    cx = _roadside(rng, n, W, a + 0.5)
    pole_len = rng.uniform(1.2, 2.5, n) * a
    ground = _fit(ground, pole_len + a, H)
    cy = ground - pole_len
    face = _octagon(g, cy, cx, a)
    pole = _rect(g, cy, ground, cx - 1.5 * g.line, cx + 1.5 * g.line) & ~face
    return [face, pole]


def _parts_traffic_light(rng, n, g, horizon):
    """Components: housing, three lamps, pole; mounted high, housing ~4.5 x 10 px at 32 px."""
    H, W, s = g.H, g.W, g.s
    width, ground = _place(rng, n, g, horizon, 3.5 * _PART_SCALE, 5.0 * _PART_SCALE)
    height = rng.uniform(2.1, 2.4, n) * width
    left = rng.uniform(0, 1, n) * (W - width)
    cx = left + width / 2
    top = rng.uniform(0.02, 0.2, n) * H
    bottom = top + height
    ground = np.clip(ground, bottom + s, H - 0.5)
    housing = _rect(g, top, bottom, left, left + width)
    lamps = np.zeros_like(housing)
    for k in range(3):
        lamps |= _disc(g, top + height * (2 * k + 1) / 6, cx, 0.3 * width) & housing
    pole = _rect(g, bottom, ground, cx - 1.5 * g.line, cx + 1.5 * g.line)
    return [housing & ~lamps, lamps, pole]


_PART_DRAWERS = {
    "pedestrian": _parts_pedestrian,
    "car": _parts_car,
    "stop_sign": _parts_stop_sign,
    "traffic_light": _parts_traffic_light,
}


def _parts_object(rng, n, g, horizon, k, relatedness, fields):
    """Object ``k`` drawn from parts for ``n`` scenes: ``(layer (3, n, P), cover (n, P))``."""
    components = _PART_DRAWERS[TASKS[k]](rng, n, g, horizon)
    material = _choose_materials(rng, n, len(components), k, relatedness)
    layer = np.zeros((3, n, g.H * g.W), dtype=np.float32)
    cover = np.zeros((n, g.H * g.W), dtype=bool)
    for c, mask in enumerate(components):
        _paint_material(rng, layer, mask, material[:, c], fields)
        cover |= mask
    return layer, cover


def _parts_background(rng, n, g, fields, relatedness):
    """The original background, then textured patches and one decoy per object kind (maybe)."""
    image, horizon = _draw_background(rng, n, g)
    H, W, s = g.H, g.W, g.s
    for _ in range(2):
        w = rng.uniform(3, 8, n) * s
        h = rng.uniform(3, 8, n) * s
        x0 = rng.uniform(0, 1, n) * (W - w)
        y0 = rng.uniform(0, 1, n) * (H - h)
        patch = _rect(g, y0, y0 + h, x0, x0 + w) & _present(rng.random(n) < _P_PATCH)
        _paint_material(rng, image, patch, rng.integers(0, len(PART_MATERIALS), n), fields)
    for k, task in enumerate(TASKS):
        components = _PART_DRAWERS[task](rng, n, g, horizon)
        keep = _present(rng.random(n) < _P_DECOY)
        material = _decoy_materials(rng, n, len(components), k, relatedness)
        for c, mask in enumerate(components):
            _paint_material(rng, image, mask & keep, material[:, c], fields)
    return image, horizon


# --------------------------------------------------------------------------- #
# One chunk of scenes
# --------------------------------------------------------------------------- #
def _draw_scenes(rng, present, g, relatedness=None):
    """Draw one scene per row of ``present``.

    Parameters
    ----------
    present : ndarray of shape (n, n_tasks), bool
        Which objects each scene contains.
    relatedness : float in [0, 1] or None
        None: the original objects; a number: objects built from parts (see
        "The relatedness dial" above), shared with this probability.

    Returns
    -------
    image : ndarray of shape (3, n, P), float32, unclipped and noise-free
        Channels first, pixels flattened (see the layout note above ``_Grid``).
    ok : ndarray of shape (n,), bool
        False for scenes where a present object is less than
        ``MIN_VISIBLE_FRACTION`` visible; the caller redraws those.
    """
    n = present.shape[0]
    if relatedness is None:
        image, horizon = _draw_background(rng, n, g)
    else:
        fields = _pattern_fields(g)
        image, horizon = _parts_background(rng, n, g, fields, relatedness)

    layers, covers = [], []
    for k, task in enumerate(TASKS):
        if relatedness is None:
            layer, cover = _DRAWERS[task](rng, n, g, horizon)
        else:
            layer, cover = _parts_object(rng, n, g, horizon, k, relatedness, fields)
        layers.append(layer)
        covers.append(cover & _present(present[:, k]))

    # Painter's algorithm with a random depth per object and scene: every pixel
    # shows the covering object that is nearest (largest depth value).
    depth = rng.random((n, len(TASKS))).astype(np.float32)
    keys = np.stack(
        [np.where(cover, _c(depth[:, k]), np.float32(-1.0)) for k, cover in enumerate(covers)]
    )  # (n_tasks, n, P)
    owner = np.argmax(keys, axis=0)  # (n, P): index of the nearest covering object
    covered = np.any(np.stack(covers), axis=0)

    ok = np.ones(n, dtype=bool)
    for k, (layer, cover) in enumerate(zip(layers, covers)):
        shown = covered & (owner == k)
        np.copyto(image, layer, where=shown)  # shown (n, P) broadcasts over channels
        # Visible fraction of object k; absent objects (area 0) are trivially fine.
        area = cover.sum(axis=1)
        visible = shown.sum(axis=1)
        ok &= visible >= MIN_VISIBLE_FRACTION * area
    return image, ok


def _finish(rng, image):
    """Lighting and sensor noise in place on ``image`` (3, n, P), then clip to [0, 1]."""
    n = image.shape[1]
    image *= _c(rng.uniform(0.7, 1.15, n))  # brightness, (n, 1) broadcasts over (3, n, P)
    sigma = _c(rng.uniform(0.02, 0.06, n))
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= sigma
    image += noise
    np.clip(image, 0.0, 1.0, out=image)


# --------------------------------------------------------------------------- #
# Public function
# --------------------------------------------------------------------------- #
#: The values ``missing_mechanism`` accepts.
MISSING_MECHANISMS = ("random", "absent_skipped")


def _validate_unit(name, value, allow_none=False):
    """A float in [0, 1] (or None when ``allow_none``), else a ValueError naming ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or math.isnan(value)
        or not 0.0 <= value <= 1.0
    ):
        expected = "a float in [0, 1]" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return float(value)


def _hiding_rates(rates, mechanism, p=PRESENCE_PROBABILITY):
    r"""Per-task probabilities of hiding a label, given absent and given present.

    ``"random"``: both equal ``missing``. ``"absent_skipped"``: labels of absent
    objects are hidden first, so that the expected hidden fraction is still
    ``missing`` (:math:`(1 - p) q_0 + p q_1 = \text{missing}`):
    :math:`q_0 = \min(1, \text{missing} / (1 - p))`,
    :math:`q_1 = \max(0, (\text{missing} - (1 - p)) / p)`.

    Returns
    -------
    q_absent, q_present : ndarray of shape (n_tasks,)
    """
    if mechanism == "random":
        return rates, rates
    q_absent = np.minimum(1.0, rates / (1.0 - p))
    q_present = np.maximum(0.0, (rates - (1.0 - p)) / p)
    return q_absent, q_present


def driving_scenes(m, image_size=32, missing=0.3, seed=0, relatedness=None,
                   label_correlation=0.0, missing_mechanism="random") -> DrivingScenes:
    r"""Draw ``m`` street scenes, each labelled for the lecture's four tasks.

    Each of the four objects (pedestrian, car, stop sign, traffic light) is in a
    scene with probability 0.5 (independently of the others unless
    ``label_correlation > 0``), at a random position and size, possibly partly
    hidden behind another object (but always at least ``MIN_VISIBLE_FRACTION`` of
    it visible). Each label is then hidden ('?', stored as ``nan``) with
    probability ``missing`` (independently with ``missing_mechanism="random"``).

    Parameters
    ----------
    m : int
        Number of scenes, at least 1.
    image_size : int, default 32
        Height and width ``n_H = n_W`` of the square images, at least 16. Object
        sizes scale with it (a car is 10-16 px wide at 32 px).
    missing : float or tuple of 4 floats, default 0.3
        Probability, in [0, 1], that a label is hidden: one rate for every
        task, or one per task in the order of ``tasks``, e.g. ``(0, 0, 0, 0.99)``.
    seed : int or None, default 0
        Seed of ``np.random.default_rng``; the same seed gives the same arrays.
        The images and ``Y_true`` do not depend on ``missing`` or
        ``missing_mechanism``.
    relatedness : float in [0, 1] or None, default None
        How much the four objects share low-level parts. ``None`` draws the
        original scenes (each object with its own colours and details, see the
        module docstring), exactly as before the dial existed. A number ``rho``
        draws every object as an arrangement of 2-3 components, each filled with
        a two-colour texture (a *material*: two colours and a pattern of
        horizontal stripes, vertical stripes or a checker) taken from the
        **shared** vocabulary ``SHARED_PARTS`` with probability ``rho`` and from
        the object's **private** vocabulary ``PRIVATE_PARTS[k]`` otherwise. At
        ``rho = 1`` the four objects are made of the same three materials and
        differ only in the shapes and arrangement of their components (and where
        they stand); at ``rho = 0`` no material of one object is used by another.
        Decoys (the same silhouettes in materials that are not the object's
        own) and textured patches make the materials, not the silhouettes, the
        hard part of every task: a feature learnt for one task's materials is
        then, at high ``rho``, a building block of the others. The objects are 1.3 times the
        original ones, so that a texture shows at 16x16. The design and its
        reasons are in the comment block "The relatedness dial" of this module.
    label_correlation : float in [0, 1], default 0.0
        Co-occurrence of the objects. Each scene is, with probability
        ``label_correlation``, a *coupled* scene (say, an intersection or an
        empty road) whose four presence labels are one shared coin flip (all
        four objects present, or none); otherwise its four labels are independent
        coin flips. Every object is still present with probability 0.5, and any
        two labels have correlation exactly ``label_correlation``. 0 is the
        independent draw of before (the same arrays).
    missing_mechanism : {"random", "absent_skipped"}, default "random"
        ``"random"``: every label is hidden with probability ``missing``,
        whatever its value (missing completely at random). ``"absent_skipped"``:
        labellers skip images where the object is absent, so '?' falls on 0
        labels first: a label is hidden with probability
        ``min(1, missing / 0.5)`` if the object is absent and
        ``max(0, (missing - 0.5) / 0.5)`` if it is present. The expected hidden
        fraction is ``missing`` either way; up to ``missing = 0.5`` every '?'
        is an absent object (a known label is then more often 1 than 0).

    Returns
    -------
    data : DrivingScenes
        ``data.X`` : ndarray of shape (m, image_size, image_size, 3), float32 in [0, 1];
        ``data.Y`` : ndarray of shape (4, m), float64, 0/1 or ``nan`` for '?';
        ``data.Y_true`` : ndarray of shape (4, m), float64, the full 0/1 truth;
        ``data.tasks`` : ``("pedestrian", "car", "stop_sign", "traffic_light")``;
        ``data.flat()`` : ndarray of shape (image_size * image_size * 3, m), float32.

    Raises
    ------
    ValueError
        If an argument is outside the ranges above (the message names it).

    Notes
    -----
    With the defaults (``relatedness=None``, ``label_correlation=0``,
    ``missing_mechanism="random"``) the arrays are those the generator gave before
    these three arguments existed, bit for bit (``tests/test_datasets.py`` holds
    their checksums).

    Examples
    --------
    >>> data = driving_scenes(m=100, image_size=32, missing=0.3, seed=0)
    >>> data.X.shape, data.Y.shape, data.flat().shape
    ((100, 32, 32, 3), (4, 100), (3072, 100))
    >>> related = driving_scenes(m=100, image_size=16, relatedness=1.0, seed=0)
    >>> related.X.shape
    (100, 16, 16, 3)
    """
    if not isinstance(m, numbers.Integral) or isinstance(m, bool) or m < 1:
        raise ValueError(f"m must be a positive int (number of scenes); got {m!r}")
    if (
        not isinstance(image_size, numbers.Integral)
        or isinstance(image_size, bool)
        or image_size < 16
    ):
        raise ValueError(f"image_size must be an int >= 16 (pixels per side); got {image_size!r}")
    n_tasks = len(TASKS)
    rates = validate_missing(missing, n_tasks)
    validate_seed(seed)
    relatedness = _validate_unit("relatedness", relatedness, allow_none=True)
    label_correlation = _validate_unit("label_correlation", label_correlation)
    if not isinstance(missing_mechanism, str) or missing_mechanism not in MISSING_MECHANISMS:
        raise ValueError(
            f"missing_mechanism must be one of {MISSING_MECHANISMS}; got {missing_mechanism!r}"
        )
    m, H = int(m), int(image_size)

    rng = np.random.default_rng(seed)
    # Labels first, and the hiding draws always made, so that X and Y_true do not
    # depend on `missing` or on the mechanism.
    Y_true = (rng.random((n_tasks, m)) < PRESENCE_PROBABILITY).astype(np.float64)
    if label_correlation > 0:
        # Coupled scenes copy one coin into all four rows. Two labels agree by
        # construction in a coupled scene and independently otherwise, so
        # corr = P(coupled) = label_correlation. (No draw at 0: the old stream.)
        coupled = rng.random(m) < label_correlation
        coin = (rng.random(m) < PRESENCE_PROBABILITY).astype(np.float64)
        Y_true[:, coupled] = coin[coupled]
    u = rng.random((n_tasks, m))
    q_absent, q_present = _hiding_rates(rates, missing_mechanism)
    hidden = u < np.where(Y_true == 1.0, q_present[:, None], q_absent[:, None])
    Y = hide_entries(Y_true, hidden)

    g = _Grid.square(H)
    X = np.empty((m, H, H, 3), dtype=np.float32)
    chunk = max(1, _CHUNK_PIXELS // (H * H))
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        present = Y_true[:, start:stop].T.astype(bool)  # (n, n_tasks)
        image, ok = _draw_scenes(rng, present, g, relatedness)
        # Redraw (new background, positions and depths) the scenes where an
        # object was hidden too much, until every scene is fine.
        while not ok.all():
            redo = np.flatnonzero(~ok)
            image[:, redo], ok[redo] = _draw_scenes(rng, present[redo], g, relatedness)
        _finish(rng, image)
        # (3, n, H*W) channels first -> (n, H, W, 3) channels last
        X[start:stop] = image.reshape(3, stop - start, H, H).transpose(1, 2, 3, 0)

    return DrivingScenes(X=X, Y=Y, Y_true=Y_true, tasks=tuple(TASKS))
