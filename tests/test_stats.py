"""experiments.stats: Student's t, paired intervals and the verdicts that decide the words."""
import json
import math

import numpy as np
import pytest

from mtl_numpy.experiments import common, stats

# 97.5 % and 95 % quantiles of Student's t (printed tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 15: 2.131,
        20: 2.086, 30: 2.042, 60: 2.000, 100: 1.984}
T95 = {1: 6.314, 2: 2.920, 5: 2.015, 10: 1.812, 30: 1.697, 100: 1.660}


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantile_975_matches_the_table(df):
    assert stats.t_quantile(0.975, df) == pytest.approx(T975[df], abs=6e-4)


@pytest.mark.parametrize("df", sorted(T95))
def test_t_quantile_95_matches_the_table(df):
    assert stats.t_quantile(0.95, df) == pytest.approx(T95[df], abs=6e-4)


def test_t_quantile_every_df_up_to_100_is_monotone_and_above_the_normal():
    q = [stats.t_quantile(0.975, df) for df in range(1, 101)]
    assert all(a > b for a, b in zip(q, q[1:]))
    assert q[-1] > 1.95996 and stats.t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)


@pytest.mark.parametrize("t", [-30.0, -2.5, -0.3, 0.0, 0.7, 4.0, 100.0])
def test_t_cdf_closed_forms(t):
    # df = 1 is the Cauchy distribution; df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2))
    assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert stats.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_t_quantile_inverts_the_cdf_and_is_symmetric():
    for df in (1, 3, 7.5, 40):
        for p in (0.6, 0.9, 0.99, 0.999):
            q = stats.t_quantile(p, df)
            assert stats.t_cdf(q, df) == pytest.approx(p, abs=1e-10)
            assert stats.t_quantile(1 - p, df) == pytest.approx(-q, abs=1e-10)
    assert stats.t_quantile(0.5, 4) == 0.0


@pytest.mark.parametrize("df", [0, -1, float("nan"), float("inf"), "3", True])
def test_bad_df(df):
    with pytest.raises(ValueError, match="df must be"):
        stats.t_quantile(0.975, df)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_bad_p(p):
    with pytest.raises(ValueError, match="p must be"):
        stats.t_quantile(p, 5)


def test_mean_interval_worked_example():
    # 1..5: mean 3, s = sqrt(2.5), half-width t(0.975, 4) * s / sqrt(5) = 2.7764 * 0.70711 = 1.96324
    mean, std, low, high, n = stats.mean_interval([1, 2, 3, 4, 5])
    assert (mean, n) == (3.0, 5)
    assert std == pytest.approx(math.sqrt(2.5), abs=1e-12)
    assert low == pytest.approx(3 - 1.963243, abs=1e-5) and high == pytest.approx(3 + 1.963243, abs=1e-5)


def test_mean_interval_drops_nonfinite_and_handles_one_value():
    assert stats.mean_interval([1.0, float("nan"), 3.0])[4] == 2
    mean, std, low, high, n = stats.mean_interval([0.4])
    assert mean == 0.4 and n == 1 and math.isnan(low) and math.isnan(high)
    assert stats.mean_interval([])[4] == 0
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_interval([1, 2], confidence=1.0)


def test_paired_difference_worked_example_helps():
    # d = 0.02, 0.03, 0.02, 0.03: mean 0.025, s = 0.0057735, half = 3.18245 * 0.0057735 / 2 = 0.0091869
    d = stats.paired_difference([0.80, 0.82, 0.81, 0.83], [0.78, 0.79, 0.79, 0.80], label="m - s",
                                key={"rho": 1.0})
    assert d.mean == pytest.approx(0.025, abs=1e-12)
    assert d.std == pytest.approx(0.0057735, abs=1e-6)
    assert d.low == pytest.approx(0.025 - 0.0091869, abs=1e-6)
    assert d.high == pytest.approx(0.025 + 0.0091869, abs=1e-6)
    assert d.n == 4 and d.verdict == "helps" and d.key == {"rho": 1.0} and d.label == "m - s"
    assert d.differences == pytest.approx((0.02, 0.03, 0.02, 0.03))
    # swapped: the same interval mirrored, and the words flip
    r = stats.paired_difference([0.78, 0.79, 0.79, 0.80], [0.80, 0.82, 0.81, 0.83])
    assert r.verdict == "hurts" and r.high == pytest.approx(-d.low)


def test_paired_is_not_unpaired():
    # large seed-to-seed spread, tiny constant gain: pairing resolves it, an unpaired look would not
    base = np.array([0.60, 0.75, 0.90, 0.70, 0.85])
    d = stats.paired_difference(base + 0.01 + np.array([0, 1e-3, -1e-3, 2e-3, -2e-3]), base)
    assert d.verdict == "helps" and d.low > 0.005
    unpaired = stats.mean_interval(base + 0.01)
    assert unpaired[2] < base.mean() < unpaired[3]


def test_unresolved_worked_example():
    # d = 0.02, 0.03, 0.01: mean 0.02, s = 0.01, half = 4.3027 * 0.01 / sqrt(3) = 0.024841
    d = stats.paired_difference([0.80, 0.82, 0.79], [0.78, 0.79, 0.78])
    assert d.low == pytest.approx(-0.004841, abs=1e-6) and d.high == pytest.approx(0.044841, abs=1e-6)
    assert d.verdict == "no difference resolved at this size"


@pytest.mark.parametrize("interval, words", [
    ((0.001, 0.2), "helps"), ((-0.2, -1e-9), "hurts"), ((-0.1, 0.1), stats.UNRESOLVED),
    ((0.0, 0.1), stats.UNRESOLVED), ((-0.1, 0.0), stats.UNRESOLVED), ((0.0, 0.0), stats.UNRESOLVED),
    ((float("nan"), float("nan")), stats.UNRESOLVED)])
def test_verdict(interval, words):
    assert stats.verdict(interval) == words
    assert words in stats.VERDICTS


def test_verdict_rejects_reversed_interval():
    with pytest.raises(ValueError, match="low <= high"):
        stats.verdict((0.2, 0.1))


def test_paired_difference_needs_pairs():
    with pytest.raises(ValueError, match="paired"):
        stats.paired_difference([1, 2, 3], [1, 2])


def test_paired_markdown_and_json_round_trip():
    d = stats.paired_difference([0.80, 0.82, 0.81, 0.83], [0.78, 0.79, 0.79, 0.80], label="m - s",
                                key={"rho": 1.0, "labelled": 0.1})
    md = stats.paired_markdown([d])
    lines = md.splitlines()
    assert lines[0] == ("| rho | labelled | comparison | mean difference ± std | 95 % interval | seeds "
                        "| verdict |")
    assert lines[2] == "| 1 | 0.1 | m - s | +0.025 ± 0.006 | [+0.016, +0.034] | 4 | helps |"
    assert stats.paired_markdown([]) == ""
    result = common.ExperimentResult("x", None, [], paired=[d])
    back = common.ExperimentResult.from_json(result.to_json())
    assert back.paired == [d]
    assert json.loads(result.to_json())["paired"][0]["verdict"] == "helps"
