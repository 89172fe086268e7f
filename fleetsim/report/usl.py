"""The Universal Scalability Law fitted to a capacity search's steps.

Gunther's USL models throughput X at concurrency N (here: stations, and calls
answered per second on a step's plateau) as

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

λ is the throughput of one station alone, σ the contention (the share of work
that queues for a shared resource), κ the coherency cost (every station's
work growing with every other's).  With κ > 0 the curve has a peak at
N* = sqrt((1−σ)/κ) and falls beyond it; with κ = 0 and σ > 0 it levels off
towards λ/σ; with σ = κ = 0 it is a straight line.

The fit is least squares on X, with 0 ≤ σ ≤ 1 and κ ≥ 0:

* for fixed (σ, κ) the model is linear in λ, so the best λ is closed-form
  (the projection of X on N / D(N)) and only (σ, κ) are searched;
* each of σ, κ is searched along t ≥ 0 with value = scale·(eᵗ − 1): exactly 0
  at t = 0, linear near it, logarithmic once the value is well above
  ``scale`` (a size whose term is negligible at the largest N), so a grid
  uniform in t covers zero and every decade up to the bound;
* the best point of that grid, and the classic linearisation
  (N/X = 1/λ + σ/λ·(N−1) + κ/λ·N(N−1), ordinary least squares) as a second
  start, are refined by Nelder–Mead (clamped to the bounds, restarted until it
  stops improving).  Every trial point is clamped to the bounds, so an
  optimum on the edge is reached exactly: a curve without a peak gets κ = 0
  and reports its asymptote, not a peak at millions of stations.

Deterministic (no random starts), no numpy.  Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Final, Literal

import msgspec

__all__ = ["BEND_EFFICIENCY", "MIN_DISTINCT_STATIONS", "MIN_R2", "Trust", "UslFit", "fit_usl"]

Trust = Literal["good", "poor", "too_few"]

# The USL has three parameters: through three distinct station counts a curve
# passes exactly, so R² says nothing until a fourth count is measured.
MIN_DISTINCT_STATIONS: Final = 4
# R² of throughput is dominated by the curve's rise: a USL-shaped curve with a
# few % noise on every step scores well above 0.98 (the rise across the steps
# dwarfs the noise).  Below 0.9, a tenth or more of the variation between
# steps is left unexplained: the steps do not follow the USL's shape (a
# throughput that jumps about, two regimes), and its peak is not to be read.
MIN_R2: Final = 0.9
# The bend is observed once the fitted curve at the largest measured step has
# fallen at least a fifth below linear scaling (X(N) / (λN) ≤ 0.8).  Above
# that the steps are nearly a straight line: with a few % noise, contention
# (σ) and coherency (κ) cannot be told apart on it, so the peak or the
# asymptote the fit gives is a guess from the straight part alone.
BEND_EFFICIENCY: Final = 0.8

_REACHED: Final = 0.95  # the fitted X at the largest step this close to the asymptote: it was measured
_GRID: Final = 16  # grid points along each of t_σ, t_κ (≈ a factor 2–3 apart)
_NEGLIGIBLE: Final = 1e-4  # a σ or κ term this size at the largest N barely moves X
_RESTART_GAIN: Final = 1e-9  # a restart of Nelder–Mead must gain this much R² to be worth another
_NM_TOL: Final = 1e-9  # Nelder–Mead stops when its simplex is this small in t
_NM_ITERATIONS: Final = 400
_NM_RESTARTS: Final = 6


class UslFit(msgspec.Struct, frozen=True, kw_only=True):
    """A USL fit, shaped as capacity.json's ``usl`` block (``to_builtins``)."""

    lambda_: float = msgspec.field(name="lambda")  # calls/s of one station alone
    sigma: float  # contention, 0 ≤ σ ≤ 1
    kappa: float  # coherency, κ ≥ 0
    r2: float  # coefficient of determination of X on the measured points
    points: int  # measured points the fit used
    peak_stations: float | None  # N* = sqrt((1−σ)/κ) (at least 1) when κ > 0
    peak_calls_per_s: float | None  # X(N*)
    asymptote_calls_per_s: float | None  # λ/σ when κ == 0 and σ > 0
    trust: Trust
    note: str  # one sentence: how far to trust the fit

    def predict(self, n: float) -> float:
        """X(n): calls answered per second the fit expects of n stations."""
        return _model(self.lambda_, self.sigma, self.kappa, n)

    def to_builtins(self) -> dict[str, object]:
        """The capacity.json ``usl`` block."""
        return msgspec.to_builtins(self)


def fit_usl(points: Sequence[tuple[float, float]]) -> UslFit | None:
    """Fit the USL to (stations, calls answered per second) points.

    Raises ValueError for a point that is not a finite pair, fewer than one
    station, or a negative throughput.  A throughput of 0 is a measurement
    (nothing was answered) and is fitted like any other.  Returns None when
    there is nothing to fit: fewer than two distinct station counts with a
    throughput above zero.
    """
    data = _checked(points)
    if len({n for n, x in data if x > 0}) < 2:
        return None
    problem = _Problem(data)
    sigma, kappa = problem.solve()
    lam, sse = problem.best_lambda(sigma, kappa)
    r2 = problem.r2(sse)
    peak_n = peak_x = asymptote = None
    if kappa > 0:
        # X is unimodal in N; a fleet has at least one station, so a peak the
        # formula puts below one station is the first station's throughput.
        peak_n = max(1.0, math.sqrt((1.0 - sigma) / kappa))
        peak_x = _model(lam, sigma, kappa, peak_n)
    elif sigma > 0:
        asymptote = lam / sigma
    stations = sorted({n for n, _ in data})
    efficiency = 1.0 / _denominator(sigma, kappa, stations[-1])
    fit = UslFit(
        lambda_=lam, sigma=sigma, kappa=kappa, r2=r2, points=len(data), peak_stations=peak_n,
        peak_calls_per_s=peak_x, asymptote_calls_per_s=asymptote,
        trust=_trust(len(stations), r2, efficiency), note="",
    )  # fmt: skip
    return msgspec.structs.replace(fit, note=_note(fit, stations, efficiency))


def _checked(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    data = []
    for point in points:
        if len(point) != 2:
            raise ValueError(f"USL fit: a point is (stations, calls per second), not {point!r}")
        n, x = float(point[0]), float(point[1])
        if not (math.isfinite(n) and math.isfinite(x)):
            raise ValueError(f"USL fit: the point ({n}, {x}) is not a finite number")
        if n < 1:  # the USL's N counts stations: X(1) = λ is one station alone
            raise ValueError(f"USL fit: stations must be at least 1, not {n:g}")
        if x < 0:
            raise ValueError(f"USL fit: throughput cannot be negative ({x:g} calls/s at {n:g} stations)")
        data.append((n, x))
    return data


def _denominator(sigma: float, kappa: float, n: float) -> float:
    return 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)


def _model(lam: float, sigma: float, kappa: float, n: float) -> float:
    return 0.0 if n <= 0 else lam * n / _denominator(sigma, kappa, n)


class _Problem:
    """The least-squares problem in (σ, κ), λ projected out; searched in
    t-coordinates (value = scale·(eᵗ − 1))."""

    def __init__(self, data: list[tuple[float, float]]) -> None:
        self.n = [n for n, _ in data]
        self.x = [x for _, x in data]
        self.m = [n - 1.0 for n in self.n]
        self.q = [n * (n - 1.0) for n in self.n]
        mean = sum(self.x) / len(self.x)
        self.sst = sum((x - mean) ** 2 for x in self.x)
        top, bottom = max(self.n), min(self.n)
        self.sigma_scale = _NEGLIGIBLE / top
        self.kappa_scale = _NEGLIGIBLE / top**2
        # κ·N² of 10⁴ at the smallest step: the curve already falls as 1/N there.
        kappa_max = 1e4 / bottom**2
        self.t_max = (math.log1p(1.0 / self.sigma_scale), math.log1p(kappa_max / self.kappa_scale))

    def best_lambda(self, sigma: float, kappa: float) -> tuple[float, float]:
        """The λ that minimises the squared error for (σ, κ), and that error."""
        g = [n / (1.0 + sigma * m + kappa * q) for n, m, q in zip(self.n, self.m, self.q, strict=True)]
        lam = sum(map(operator.mul, self.x, g)) / sum(map(operator.mul, g, g))
        # the residuals summed directly (not Σx² − λΣxg): no cancellation near an exact fit
        return lam, sum((x - lam * gi) ** 2 for x, gi in zip(self.x, g, strict=True))

    def r2(self, sse: float) -> float:
        if self.sst > 0:
            return 1.0 - sse / self.sst
        # every step the same throughput: σ = 1 draws that line exactly
        return 1.0 if sse <= 1e-12 * sum(x * x for x in self.x) else 0.0

    def params(self, t: Sequence[float]) -> tuple[float, float]:
        sigma = min(1.0, self.sigma_scale * math.expm1(t[0]))
        return sigma, self.kappa_scale * math.expm1(t[1])

    def t_of(self, sigma: float, kappa: float) -> list[float]:
        return [math.log1p(sigma / self.sigma_scale), math.log1p(kappa / self.kappa_scale)]

    def error(self, t: Sequence[float]) -> float:
        return self.best_lambda(*self.params(t))[1]

    def solve(self) -> tuple[float, float]:
        starts = [self._grid_best()]
        linear = self._linearised()
        if linear is not None:
            starts.append(self.t_of(*linear))
        best, value = min((_nelder_mead(self.error, t, self.t_max) for t in starts), key=lambda pair: pair[1])
        # Nelder–Mead can stall in a narrow valley: restart from where it
        # stopped while that still gains something R² can show.
        for _ in range(_NM_RESTARTS):
            point, new = _nelder_mead(self.error, best, self.t_max)
            if new >= value - _RESTART_GAIN * self.sst:
                best, value = (point, new) if new < value else (best, value)
                break
            best, value = point, new
        return self.params(best)

    def _grid_best(self) -> list[float]:
        axes = [[k * t_max / (_GRID - 1) for k in range(_GRID)] for t_max in self.t_max]
        return min(([a, b] for a in axes[0] for b in axes[1]), key=self.error)

    def _linearised(self) -> tuple[float, float] | None:
        """σ, κ of the linearisation N/X = a + b(N−1) + cN(N−1) (points with
        X > 0), clamped to the bounds; None when it cannot be solved."""
        rows = [(1.0, m, q, n / x) for n, x, m, q in zip(self.n, self.x, self.m, self.q, strict=True) if x > 0]
        normal = [[sum(r[i] * r[j] for r in rows) for j in range(4)] for i in range(3)]
        solution = _solve3(normal)
        if solution is None or solution[0] <= 0:
            return None
        a, b, c = solution
        return min(1.0, max(0.0, b / a)), max(0.0, c / a)


def _solve3(augmented: list[list[float]]) -> list[float] | None:
    """Gaussian elimination with partial pivoting on a 3×4 augmented matrix."""
    rows = [row[:] for row in augmented]
    scale = max(abs(v) for row in rows for v in row[:3]) or 1.0
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) <= 1e-12 * scale:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, 3):
            factor = rows[r][col] / rows[col][col]
            rows[r] = [v - factor * p for v, p in zip(rows[r], rows[col], strict=True)]
    out = [0.0, 0.0, 0.0]
    for r in (2, 1, 0):
        out[r] = (rows[r][3] - sum(rows[r][c] * out[c] for c in range(r + 1, 3))) / rows[r][r]
    return out


def _nelder_mead(
    f: Callable[[Sequence[float]], float], start: list[float], upper: tuple[float, float]
) -> tuple[list[float], float]:
    """Nelder–Mead in two dimensions inside the box [0, upper]: every trial
    point is clamped to the box, so a minimum on its edge (σ or κ = 0) is
    reached exactly."""

    def clamp(p: Sequence[float]) -> list[float]:
        return [min(hi, max(0.0, v)) for v, hi in zip(p, upper, strict=True)]

    step = [max(0.5, 0.1 * abs(v)) for v in start]
    simplex = [clamp(start), clamp([start[0] + step[0], start[1]]), clamp([start[0], start[1] + step[1]])]
    values = [f(p) for p in simplex]
    for _ in range(_NM_ITERATIONS):
        order = sorted(range(3), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        size = max(abs(a - b) for p in simplex[1:] for a, b in zip(p, simplex[0], strict=True))
        if size < _NM_TOL:
            break
        centre = [(a + b) / 2 for a, b in zip(simplex[0], simplex[1], strict=True)]
        worst = simplex[2]
        trial = clamp([c + (c - w) for c, w in zip(centre, worst, strict=True)])
        ft = f(trial)
        if ft < values[0]:
            far = clamp([c + 2 * (c - w) for c, w in zip(centre, worst, strict=True)])
            ff = f(far)
            simplex[2], values[2] = (far, ff) if ff < ft else (trial, ft)
        elif ft < values[1]:
            simplex[2], values[2] = trial, ft
        else:
            inner = clamp([c + 0.5 * (w - c) for c, w in zip(centre, worst, strict=True)])
            fi = f(inner)
            if fi < values[2]:
                simplex[2], values[2] = inner, fi
            else:  # shrink towards the best point
                for i in (1, 2):
                    simplex[i] = [(a + b) / 2 for a, b in zip(simplex[0], simplex[i], strict=True)]
                    values[i] = f(simplex[i])
    best = min(range(3), key=values.__getitem__)
    return simplex[best], values[best]


def _trust(distinct: int, r2: float, efficiency: float) -> Trust:
    if distinct < MIN_DISTINCT_STATIONS:
        return "too_few"
    if r2 < MIN_R2:
        return "poor"
    return "too_few" if efficiency > BEND_EFFICIENCY else "good"


def _count(n: float) -> str:
    return f"{n:,.0f}" if n >= 10 else f"{n:.2g}"


def _stations(n: float) -> str:
    return "1 station" if _count(n) == "1" else f"{_count(n)} stations"


def _rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _note(fit: UslFit, stations: list[float], efficiency: float) -> str:
    low, high = stations[0], stations[-1]
    measured = f"the measured {_count(low)}–{_stations(high)}"
    if len(stations) < MIN_DISTINCT_STATIONS:
        return (
            f"Only {len(stations)} station counts were measured: a three-parameter curve fits so few points "
            f"whatever they are, so the fit says nothing yet (measure at least {MIN_DISTINCT_STATIONS} steps)."
        )
    if fit.trust == "poor":
        return (
            f"The fit explains only {max(fit.r2, 0.0):.0%} of the variation in throughput (R² {fit.r2:.3f}, "
            f"below {MIN_R2}): the steps do not follow the USL's shape, so neither its peak nor its asymptote "
            "is to be trusted."
        )
    if fit.trust == "too_few":
        return (
            f"Throughput still grew almost linearly over {measured} (the largest step at {efficiency:.0%} of "
            "linear scaling): the bend was not reached, so where the curve peaks or levels off cannot be told."
        )
    if fit.peak_stations is not None and fit.peak_calls_per_s is not None:
        peak = fit.peak_stations
        where = (
            f"beyond the largest measured step ({_stations(high)}): an extrapolation"
            if peak > high
            else f"below the smallest measured step ({_stations(low)}): an extrapolation"
            if peak < low
            else f"within {measured}"
        )
        return (
            f"The fit (R² {fit.r2:.3f}) puts the peak at {_stations(peak)} and "
            f"{_rate(fit.peak_calls_per_s)} calls/s, {where}."
        )
    assert fit.asymptote_calls_per_s is not None  # "good" needs a bend: σ > 0 or κ > 0
    reached = fit.predict(high) / fit.asymptote_calls_per_s
    limit = f"The fit (R² {fit.r2:.3f}) levels off towards {_rate(fit.asymptote_calls_per_s)} calls/s without a peak"
    if reached >= _REACHED:
        return f"{limit}, a ceiling the measured steps already reach ({_stations(high)} at {reached:.0%} of it)."
    return (
        f"{limit}, a limit approached only beyond the measured steps (an extrapolation: the largest, "
        f"{_stations(high)}, is at {reached:.0%} of it)."
    )
