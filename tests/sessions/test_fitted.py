"""The figures shipped in fleetsim.sessions.fitted are the data's: each is
recomputed here from scenarios/data/ (the README's table of fitted figures)."""

from __future__ import annotations

import math

import pytest
from session_bench import DATA

from fleetsim.sessions import fitted, fitting
from fleetsim.sessions.fitting import Lognormal

ELAAD = DATA / "elaadnl"
TOL = 2e-6  # the constants carry six decimals


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=TOL) for x, y in zip(a, b, strict=True))


def _ln_close(shipped: Lognormal, fit: Lognormal) -> bool:
    return math.isclose(shipped.mu, fit.mu, abs_tol=TOL) and math.isclose(shipped.sigma, fit.sigma, abs_tol=TOL)


@pytest.fixture(scope="module")
def caltech() -> tuple[list[fitting.RecordedSession], list[fitting.RecordedSession]]:
    campus = fitting.parse_sessions((DATA / "acn_caltech_2019_sessions.csv").read_text(), "campus")
    dc = fitting.parse_sessions((DATA / "acn_caltech_2021_dcfc_sessions.csv").read_text(), "dc")
    return campus, dc


def test_elaad_hourly_arrival_shares() -> None:
    weekday = fitting.elaad_hourly_shares((ELAAD / "distribution-of-arrival.csv").read_text())
    weekend = fitting.elaad_hourly_shares((ELAAD / "distribution-of-arrival-weekend.csv").read_text())
    assert _close(fitted.PUBLIC_WEEKDAY, weekday["public"])
    assert _close(fitted.PUBLIC_WEEKEND, weekend["public"])
    assert _close(fitted.WORKPLACE_WEEKDAY, weekday["workplace"])
    assert _close(fitted.HOME_WEEKDAY, weekday["private"])
    assert _close(fitted.HOME_WEEKEND, weekend["private"])
    # The README's figures: public 18h ≈ 10.9 %, workplace 07h 14 %, 08h 27 %, 09h 18 %.
    assert round(weekday["public"][18], 3) == 0.109
    assert [round(weekday["workplace"][h], 2) for h in (7, 8, 9)] == [0.14, 0.27, 0.18]


def test_elaad_lognormals_match_the_readme() -> None:
    connection = fitting.elaad_quantile_fits((ELAAD / "distribution-of-connection-time.csv").read_text())
    energy = fitting.elaad_quantile_fits((ELAAD / "distribution-of-energy-demand.csv").read_text())
    for prefix, column in (("PUBLIC", "public"), ("WORKPLACE", "workplace"), ("HOME", "private")):
        assert _ln_close(getattr(fitted, f"{prefix}_CONNECTION_H"), connection[column])
        assert _ln_close(getattr(fitted, f"{prefix}_ENERGY_KWH"), energy[column])
    readme = {"public": (1.424, 1.343, 1.976, 1.069), "workplace": (1.469, 0.865, 2.194, 0.870),
              "private": (2.103, 0.965, 2.805, 1.078)}
    for column, (c_mu, c_sigma, e_mu, e_sigma) in readme.items():
        assert (round(connection[column].mu, 3), round(connection[column].sigma, 3)) == (c_mu, c_sigma)
        assert (round(energy[column].mu, 3), round(energy[column].sigma, 3)) == (e_mu, e_sigma)


def test_caltech_campus_figures(caltech) -> None:  # type: ignore[no-untyped-def]
    campus, _ = caltech
    assert _close(fitted.CAMPUS_WEEKDAY, fitting.hourly_shares(campus, weekend=False))
    assert _close(fitted.CAMPUS_WEEKEND, fitting.hourly_shares(campus, weekend=True))
    mixture = fitting.lognormal_mixture_em(fitting.connection_hours(campus))
    assert _close(fitted.CAMPUS_CONNECTION_H.weights, mixture.weights)
    for shipped, fit in zip(fitted.CAMPUS_CONNECTION_H.parts, mixture.parts, strict=True):
        assert _ln_close(shipped, fit)
    assert _ln_close(fitted.CAMPUS_ENERGY_KWH, fitting.lognormal_mle([s.energy_kwh for s in campus]))
    weekday = fitting.sessions_per_connector_per_day(campus, weekend=False)
    weekend = fitting.sessions_per_connector_per_day(campus, weekend=True)
    assert math.isclose(fitted.CAMPUS_PER_DAY, weekday, abs_tol=TOL)
    assert math.isclose(fitted.CAMPUS_WEEKEND_FACTOR, weekend / weekday, abs_tol=TOL)


def test_caltech_dc_figures(caltech) -> None:  # type: ignore[no-untyped-def]
    _, dc = caltech
    assert _close(fitted.DC_WEEKDAY, fitting.hourly_shares(dc, weekend=False))
    assert _close(fitted.DC_WEEKEND, fitting.hourly_shares(dc, weekend=True))
    minutes = fitting.lognormal_mle([h * 60 for h in fitting.connection_hours(dc)])
    assert (round(minutes.mu, 3), round(minutes.sigma, 3)) == (3.710, 0.634)  # the README's, in ln minutes
    assert _ln_close(fitted.DC_CONNECTION_H, Lognormal(minutes.mu - math.log(60), minutes.sigma))
    energy = fitting.lognormal_mle([s.energy_kwh for s in dc])
    assert _ln_close(fitted.DC_ENERGY_KWH, energy)
    assert (round(energy.mu, 3), round(energy.sigma, 3)) == (2.955, 0.737)
    weekday = fitting.sessions_per_connector_per_day(dc, weekend=False)
    assert math.isclose(fitted.DC_PER_DAY, weekday, abs_tol=TOL)


def test_ev_mix_is_ev_specs_json() -> None:
    assert fitting.ev_mix((ELAAD / "ev_specs.json").read_text()) == fitted.EV_MIX
    total = sum(e.registrations for e in fitted.EV_MIX)
    share_11kw = sum(e.registrations for e in fitted.EV_MIX if e.max_ac_kw == 11.0) / total
    mean_battery = sum(e.registrations * e.battery_kwh for e in fitted.EV_MIX) / total
    assert 0.70 < share_11kw < 0.80  # the README: 78 % of registrations take 11 kW
    assert 55 < mean_battery < 61  # the README: mean battery 58 kWh
