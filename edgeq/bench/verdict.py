"""One verdict on two sets of latency samples — faster, slower, no significant change or inconclusive — for
``edgeq run``, the lab and the gate alike."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

MIN_SAMPLES = 5  # fewer runs on either side than this and there is no verdict
Verdict = Literal["faster", "slower", "no significant change", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

_BOOTSTRAP_CHUNK = 1_000_000  # resampled values held in memory at once, so long runs do not need gigabytes


@dataclass(frozen=True)
class Comparison:
    """A candidate's latency against a baseline's: the verdict, the ratio of medians with its interval, and why."""

    verdict: Verdict
    ratio: float  # median(candidate) / median(baseline); above 1 the candidate is slower
    ratio_low: float  # the ratio's bootstrap confidence interval
    ratio_high: float
    p_value: float  # two-sided Mann-Whitney U
    n_candidate: int
    n_baseline: int
    reason: str  # one line, e.g. "median 20.1 % slower (95 % CI 17.9–22.4 %), p = 3e-12"

    @property
    def speedup(self) -> float:
        """baseline over candidate: above 1 the candidate is faster."""
        return 1 / self.ratio if self.ratio else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers that could not be computed (no samples on a side) are ``None``."""
        data = {**asdict(self), "speedup": self.speedup}
        return {key: None if isinstance(value, float) and not math.isfinite(value) else value
                for key, value in data.items()}


def compare_samples(candidate_ms: Sequence[float], baseline_ms: Sequence[float], *, alpha: float = 0.05,
                    min_effect: float = 0.05, confidence: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> Comparison:
    """Compare the candidate's latency samples with the baseline's, by their medians.

    The verdict follows these rules, in this order:

    - **inconclusive** when either side has fewer than 5 samples: too few to say anything.
    - **slower** or **faster** when three things hold: the Mann-Whitney U test says the two sets of samples
      differ (two-sided p below ``alpha``, 5 %); the confidence interval of the ratio of medians (95 %,
      bootstrap) lies wholly on one side of 1, so the direction is not in doubt; and the ratio of medians
      itself is beyond ``min_effect`` — more than 5 % slower or more than 5 % faster. Only the measured ratio
      has to clear 5 %, not the whole interval; otherwise a real 6 % slowdown would stay inconclusive until
      thousands of runs were taken.
    - **no significant change** when it is neither, and the whole confidence interval lies within
      1 ± ``min_effect``: whatever the difference is, it is smaller than 5 % — this includes a real but small
      difference that the test does detect, such as 2 % over many runs.
    - **inconclusive** otherwise: the interval reaches beyond 1 ± ``min_effect``, so the samples are too
      noisy (or too few) to rule out a change of 5 % or more, and more or steadier runs are needed.

    The interval comes from ``resamples`` bootstrap resamples of each side, drawn with ``seed``, so the same
    samples always give the same verdict. Both the test and the interval treat every sample as independent.
    """
    if not 0 < alpha < 1 or not 0 < confidence < 1:
        raise ValueError(f"alpha and confidence must lie between 0 and 1, got {alpha} and {confidence}")
    if not 0 <= min_effect < 1:
        raise ValueError(f"min_effect must be at least 0 and below 1, got {min_effect}")
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100 for a confidence interval, got {resamples}")
    import numpy as np  # here, not at the top: edgeq.bench is imported by commands that must start quickly

    candidate, baseline = np.asarray(candidate_ms, dtype=float), np.asarray(baseline_ms, dtype=float)
    for values in (candidate, baseline):
        if values.ndim != 1 or not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError("latency samples must be a flat sequence of positive, finite milliseconds")
    n_candidate, n_baseline = candidate.size, baseline.size
    if not n_candidate or not n_baseline:
        nan = math.nan
        return Comparison("inconclusive", nan, nan, nan, nan, n_candidate, n_baseline,
                          _too_few(n_candidate, n_baseline))

    from scipy.stats import mannwhitneyu

    ratio = float(np.median(candidate) / np.median(baseline))
    p_value = float(mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)
    if math.isnan(p_value):  # every sample on both sides equal
        p_value = 1.0
    rng = np.random.default_rng(seed)
    ratios = _bootstrap_medians(rng, candidate, resamples) / _bootstrap_medians(rng, baseline, resamples)
    tail = (1 - confidence) / 2
    low, high = (float(bound) for bound in np.quantile(ratios, [tail, 1 - tail]))

    level = f"{confidence * 100:g} %"
    shown_p = f"p = {p_value:.2g}"
    sure_of_direction = p_value < alpha and (low > 1 or high < 1)
    verdict: Verdict
    if min(n_candidate, n_baseline) < MIN_SAMPLES:
        verdict, reason = "inconclusive", _too_few(n_candidate, n_baseline)
    elif sure_of_direction and ratio > 1 + min_effect:
        verdict = "slower"
        reason = f"median {_pct(ratio - 1)} % slower ({level} CI {_pct(low - 1)}–{_pct(high - 1)} %), {shown_p}"
    elif sure_of_direction and ratio < 1 - min_effect:
        verdict = "faster"
        reason = f"median {_pct(1 - ratio)} % faster ({level} CI {_pct(1 - high)}–{_pct(1 - low)} %), {shown_p}"
    elif 1 - min_effect <= low and high <= 1 + min_effect:
        verdict = "no significant change"
        reason = f"median {_change(ratio)} ({level} CI {_span(low, high)}, within ±{min_effect * 100:g} %), {shown_p}"
    else:
        verdict = "inconclusive"
        reason = (f"median {_change(ratio)}, but the {level} CI ({_span(low, high)}) reaches beyond "
                  f"±{min_effect * 100:g} %, {shown_p}")
    return Comparison(verdict, ratio, low, high, p_value, n_candidate, n_baseline, reason)


def _bootstrap_medians(rng: np.random.Generator, values: np.ndarray, resamples: int) -> np.ndarray:
    """The medians of ``resamples`` resamples (with replacement) of ``values``, drawn in bounded chunks.

    Each resample is drawn as indices into the sorted values; sorting small integer indices is several times
    faster than taking the median of the resampled floats, and gives the same medians.
    """
    import numpy as np

    ordered, size = np.sort(values), values.size
    dtype = np.int16 if size <= np.iinfo(np.int16).max else np.int32
    lower, upper = (size - 1) // 2, size // 2  # the middle ranks; equal when size is odd
    medians = np.empty(resamples)
    rows = max(1, _BOOTSTRAP_CHUNK // size)
    for start in range(0, resamples, rows):
        stop = min(start + rows, resamples)
        ranks = np.sort(rng.integers(0, size, size=(stop - start, size), dtype=dtype), axis=1)
        medians[start:stop] = (ordered[ranks[:, lower]] + ordered[ranks[:, upper]]) / 2
    return medians


def _too_few(n_candidate: int, n_baseline: int) -> str:
    return (f"too few samples to compare: {n_candidate} candidate and {n_baseline} baseline runs, "
            f"need at least {MIN_SAMPLES} each")


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.1f}"


def _change(ratio: float) -> str:
    return f"{_pct(ratio - 1)} % slower" if ratio >= 1 else f"{_pct(1 - ratio)} % faster"


def _span(low: float, high: float) -> str:
    """The interval as signed changes of the median: ``-2.1 % to +2.9 %``."""
    return f"{(low - 1) * 100:+.1f} % to {(high - 1) * 100:+.1f} %"
