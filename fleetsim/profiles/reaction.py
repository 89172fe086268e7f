"""Reaction delays of a virtual station, drawn to match a certificate's
lab-measured min / average / max.

The distribution is a beta on [min, max] with shape parameters
``alpha = 6m`` and ``beta = 6(1 - m)``, where ``m = (avg - min) / (max - min)``.
Its mean is exactly the measured average and it never leaves [min, max].
When the average lies in the middle two thirds of the range this is the PERT
distribution (mode ``(6 avg - min - max) / 4``, alpha + beta = 6); for the
skewed measurements typical of latencies (seed 000: 0.27 / 0.42 / 22.22 s)
the same family becomes J-shaped: most draws near the minimum, a long tail
up to the maximum, as a real station's response times look.

Pure: the caller passes its own seeded ``random.Random``.
"""

from __future__ import annotations

import random

import msgspec

from fleetsim.profiles.profile import Measured

# alpha + beta: the PERT convention (weight 4 on the mode, 1 on each bound).
_CONCENTRATION = 6.0


class ReactionTime(msgspec.Struct, frozen=True):
    """A delay distribution on [min_s, max_s] with mean avg_s."""

    min_s: float
    max_s: float
    alpha: float  # 0 when the distribution is a point (min == max or avg at a bound)
    beta: float

    @classmethod
    def fit(cls, measured: Measured) -> ReactionTime:
        span = measured.max_s - measured.min_s
        if span <= 0:
            return cls(measured.min_s, measured.min_s, 0.0, 0.0)
        share = min(1.0, max(0.0, (measured.avg_s - measured.min_s) / span))
        if share in (0.0, 1.0):  # every draw at one bound; a beta needs 0 < share < 1
            point = measured.min_s if share == 0.0 else measured.max_s
            return cls(point, point, 0.0, 0.0)
        return cls(measured.min_s, measured.max_s, _CONCENTRATION * share, _CONCENTRATION * (1 - share))

    @property
    def mean_s(self) -> float:
        if self.alpha == 0:
            return self.min_s
        return self.min_s + (self.max_s - self.min_s) * self.alpha / (self.alpha + self.beta)

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds, within [min_s, max_s]."""
        if self.alpha == 0:
            return self.min_s
        draw = self.min_s + (self.max_s - self.min_s) * rng.betavariate(self.alpha, self.beta)
        return min(self.max_s, max(self.min_s, draw))  # guard float rounding at the bounds
