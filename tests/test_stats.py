import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from fgkd.stats import paired_differences, spearman, t_interval


def test_t_interval_matches_an_independent_computation():
    values = [1.0, 2.5, 1.5, 3.0]
    iv = t_interval(values)
    m, se = np.mean(values), np.std(values, ddof=1) / math.sqrt(4)
    low, high = scipy_stats.t.interval(0.95, 3, loc=m, scale=se)
    assert (iv.mean, iv.n) == (pytest.approx(m), 4)
    assert iv.low == pytest.approx(low) and iv.high == pytest.approx(high)
    assert iv.status == "holds"


@pytest.mark.parametrize("values, status", [
    ([2.0, 2.1, 1.9], "holds"),
    ([-2.0, -2.1, -1.9], "contradicted"),
    ([2.0, -1.0, 1.0], "inconclusive"),
    ([5.0], "inconclusive"),  # one seed: no interval
])
def test_status_comes_from_the_interval(values, status):
    assert t_interval(values).status == status


def test_one_seed_has_no_interval_and_nan_is_refused():
    iv = t_interval([3.0])
    assert iv.mean == 3.0 and math.isnan(iv.low) and math.isnan(iv.high)
    with pytest.raises(ValueError, match="NaN"):
        t_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        t_interval([])


def test_paired_differences_and_spearman():
    assert paired_differences([3.0, 4.0], [1.0, 5.0]) == [2.0, -1.0]
    with pytest.raises(ValueError, match="same seeds"):
        paired_differences([1.0], [1.0, 2.0])
    assert spearman([1, 2, 3], [10.0, 30.0, 20.0]) == pytest.approx(0.5)
    assert spearman([1, 2, 3], [1.0, 1.0, 1.0]) == 0.0  # a flat metric has no trend
