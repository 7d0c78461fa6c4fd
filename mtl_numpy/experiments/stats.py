r"""Statistics that decide the words: paired differences, t intervals and verdicts.

A claim such as "multi-task learning helps" compares two conditions run on the
same seeds: the same scenes, the same hidden labels, for both. The per-seed
differences :math:`d_s = a_s - b_s` are then what varies, and their mean has the
95 % Student-t interval

.. math::

    \bar d \pm t_{0.975,\, n-1}\, \frac{s_d}{\sqrt n},
    \qquad s_d^2 = \frac{1}{n-1}\sum_s (d_s - \bar d)^2 .

The words a sentence may use follow from the interval alone
(:func:`verdict`): ``"helps"`` when it lies above 0, ``"hurts"`` when it lies
below 0, ``"no difference resolved at this size"`` when it covers 0 (a tie is
*not* shown: more seeds might still resolve a difference either way).

Student's t quantile is computed here (SciPy is not a dependency): the CDF from
the regularized incomplete beta function (a continued fraction, as in
*Numerical Recipes* §6.4), inverted by bisection.

>>> round(t_quantile(0.975, 9), 3)
2.262
>>> d = paired_difference([0.80, 0.82, 0.81, 0.83], [0.78, 0.79, 0.79, 0.80], label="multi - single")
>>> d.verdict
'helps'
>>> paired_difference([0.80, 0.82, 0.79], [0.78, 0.79, 0.78]).verdict   # [-0.005, +0.045]
'no difference resolved at this size'
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["HELPS", "HURTS", "UNRESOLVED", "VERDICTS", "CLAIM_WORDS", "t_cdf", "t_quantile", "mean_interval",
           "PairedDifference", "paired_difference", "verdict", "paired_markdown"]

HELPS = "helps"
HURTS = "hurts"
UNRESOLVED = "no difference resolved at this size"
#: Every word a verdict can be.
VERDICTS = (HELPS, HURTS, UNRESOLVED)
#: A verdict as the verb of a sentence ("the all-shared network helps", "... shows no
#: difference resolved at this size"): what the experiments' claim lines say.
CLAIM_WORDS = {HELPS: "helps", HURTS: "hurts", UNRESOLVED: "shows no difference resolved at this size"}


# ---------------------------------------------------------------------- Student's t
def _betacf(a, b, x, max_iter=300, eps=1e-15):
    """Continued fraction of the incomplete beta function (modified Lentz; NR §6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))        # even step
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))  # odd step
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betai(a, b, x):
    """The regularized incomplete beta function :math:`I_x(a, b)`, ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # the continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t, df):
    r"""The CDF of Student's t with ``df`` degrees of freedom.

    Notes
    -----
    For :math:`t \ge 0`, :math:`P(T \le t) = 1 - \tfrac12 I_{x}(\tfrac{\nu}{2}, \tfrac12)` with
    :math:`x = \nu / (\nu + t^2)`; the negative half by symmetry.
    """
    df = _check_df(df)
    t = float(t)
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``0 < p < 1``).

    Bisection on :func:`t_cdf` to about 1e-12; ``t_quantile(0.975, df)`` is the
    factor of the 95 % two-sided interval (12.706 at df 1, 2.262 at df 9, 1.984 at
    df 100, tending to 1.960).
    """
    df = _check_df(df)
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1; got {p!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:          # bracket: the tails of df = 1 are heavy
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _check_df(df):
    if isinstance(df, bool) or not isinstance(df, (int, float, np.integer, np.floating)) \
            or not math.isfinite(df) or df <= 0:
        raise ValueError(f"df must be a positive number of degrees of freedom; got {df!r}")
    return float(df)


# ---------------------------------------------------------------------- intervals
def mean_interval(values, confidence=0.95):
    """``(mean, std, low, high, n)`` of ``values``: the Student-t interval of their mean.

    ``std`` is the sample standard deviation (``ddof=1``). Non-finite values are
    dropped. With fewer than two values the interval is ``(nan, nan)``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1; got {confidence!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan, n
    std = float(v.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half, n


def verdict(interval):
    """The words a sentence may use about a difference whose interval is ``(low, high)``.

    ``"helps"`` if ``low > 0``, ``"hurts"`` if ``high < 0``, otherwise (the interval
    covers 0, or is undefined) ``"no difference resolved at this size"``.
    """
    low, high = (float(x) for x in interval)
    if math.isnan(low) or math.isnan(high):
        return UNRESOLVED
    if low > high:
        raise ValueError(f"interval must be (low, high) with low <= high; got {interval!r}")
    if low > 0:
        return HELPS
    if high < 0:
        return HURTS
    return UNRESOLVED


@dataclass(frozen=True)
class PairedDifference:
    """The mean of per-seed differences ``a - b`` with its interval and verdict.

    Attributes
    ----------
    label : str
        What is compared (``"all-shared - separate networks (equal width)"``).
    key : dict
        Where in the experiment (``{"rho": 1.0, "labelled": 0.1, "metric": "accuracy"}``).
    mean, std : float
        Mean and sample std (``ddof=1``) of the per-seed differences.
    low, high : float
        The ``confidence`` Student-t interval of the mean.
    n : int
        Number of pairs (seeds) with a finite difference.
    confidence : float
    verdict : str
        :func:`verdict` of ``(low, high)``.
    differences : tuple of float
        The per-seed differences, in seed order (kept so the table can be recomputed).
    """

    label: str
    key: dict
    mean: float
    std: float
    low: float
    high: float
    n: int
    confidence: float
    verdict: str
    differences: tuple

    def to_dict(self):
        d = asdict(self)
        d["differences"] = list(self.differences)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["differences"] = tuple(d.get("differences", ()))
        return cls(**d)


def paired_difference(a, b, label="a - b", key=None, confidence=0.95):
    """Pair ``a[s]`` with ``b[s]`` (same seed, same data) and summarise ``a - b``.

    Parameters
    ----------
    a, b : sequence of float, same length
        Per-seed values of the two conditions, in the same seed order.
    label : str
    key : dict, optional
    confidence : float, default 0.95

    Returns
    -------
    PairedDifference
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold one value per seed each, paired; got {a.size} and {b.size}")
    diff = a - b
    mean, std, low, high, n = mean_interval(diff, confidence)
    return PairedDifference(str(label), dict(key or {}), mean, std, low, high, n, float(confidence),
                            verdict((low, high)), tuple(float(x) for x in diff))


def _signed(x, digits):
    return "n/a" if not math.isfinite(x) else f"{x:+.{digits}f}"


def paired_markdown(differences, columns=None, digits=3):
    """A Markdown table of :class:`PairedDifference`\\ s: key columns, then the numbers and the verdict.

    ``columns`` picks and orders the ``key`` entries shown (default: every key of the
    first row). Each line: ``mean ± std``, ``[low, high]``, ``n``, the verdict in words.
    """
    differences = list(differences)
    if not differences:
        return ""
    if columns is None:
        columns = list(differences[0].key)
    conf = differences[0].confidence
    head = list(columns) + ["comparison", "mean difference ± std", f"{100 * conf:g} % interval",
                            "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in differences:
        cells = [_fmt_key(d.key.get(c)) for c in columns]
        std = "n/a" if not math.isfinite(d.std) else f"{d.std:.{digits}f}"
        cells += [d.label, f"{_signed(d.mean, digits)} ± {std}",
                  f"[{_signed(d.low, digits)}, {_signed(d.high, digits)}]", str(d.n), d.verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_key(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
