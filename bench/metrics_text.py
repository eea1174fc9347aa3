"""Figures read from Prometheus text exposition (counter totals, histogram buckets and quantiles), and percentiles."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families


def metric_total(text: str, family: str) -> float:
    """Return the sum of every sample of ``family`` (a counter's name without ``_total`` works too)."""
    base = family.removesuffix("_total")
    total = 0.0
    for metric in text_string_to_metric_families(text):
        if metric.name != base:
            continue
        for sample in metric.samples:
            if sample.name in (family, base):
                total += sample.value
    return total


def histogram_buckets(text: str, family: str) -> list[tuple[float, float]]:
    """Return the cumulative buckets of histogram ``family`` as (upper bound, count), summed over label sets."""
    counts: dict[float, float] = {}
    for metric in text_string_to_metric_families(text):
        if metric.name != family:
            continue
        for sample in metric.samples:
            if sample.name == f"{family}_bucket":
                bound = float(sample.labels["le"])
                counts[bound] = counts.get(bound, 0.0) + sample.value
    return sorted(counts.items())


def histogram_quantile(quantile: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Estimate a quantile from cumulative buckets the way Prometheus' ``histogram_quantile`` does.

    The value is interpolated linearly inside the bucket that contains the
    rank, with 0 as the lower bound of the first bucket. A rank in the
    ``+Inf`` bucket returns the highest finite bound. Returns None when the
    histogram is empty.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None

    rank = quantile * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if upper_bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = upper_bound, count

    return lower_bound


def percentile(values: Sequence[float], quantile: float) -> float | None:
    """Return the nearest-rank percentile of ``values`` (``quantile`` from 0 to 1), or None when empty."""
    if not values:
        return None

    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(quantile * len(ordered) + 0.999999) - 1))
    return ordered[index]
