"""The fitted figures the session models use, shipped inside the package so an
installed fleetsim needs no data files.  Every number here is recomputed from
scenarios/data/ by tests/sessions/test_fitted.py with fleetsim.sessions.fitting;
the few that the data cannot give are marked as assumptions.

Hourly shares are of a day's arrivals, by local hour 0..23; connection times
are lognormals of hours, energies of kWh."""

from __future__ import annotations

from typing import Final

from fleetsim.sessions.fitting import EvSpec, Lognormal, Mixture

# ElaadNL distribution-of-arrival.csv / -weekend.csv, summed per hour.
PUBLIC_WEEKDAY: Final = (
    0.009811, 0.004513, 0.002436, 0.001641, 0.001631, 0.002162,
    0.007279, 0.032308, 0.078614, 0.077181, 0.051124, 0.046558,
    0.053490, 0.053481, 0.050210, 0.051245, 0.056587, 0.083393,
    0.109053, 0.080645, 0.050521, 0.039613, 0.033681, 0.022822,
)
PUBLIC_WEEKEND: Final = (
    0.020361, 0.012397, 0.006418, 0.003703, 0.002810, 0.002544,
    0.002941, 0.006472, 0.017332, 0.037322, 0.056594, 0.069998,
    0.078813, 0.082024, 0.084628, 0.082884, 0.079848, 0.080163,
    0.073301, 0.057648, 0.048681, 0.039275, 0.031358, 0.022486,
)
WORKPLACE_WEEKDAY: Final = (
    0.000296, 0.000013, 0.000013, 0.000135, 0.001279, 0.014253,
    0.043256, 0.142555, 0.266591, 0.180657, 0.077321, 0.049380,
    0.053983, 0.052812, 0.039878, 0.030444, 0.020430, 0.010161,
    0.005814, 0.005047, 0.003042, 0.001427, 0.000767, 0.000444,
)
HOME_WEEKDAY: Final = (
    0.021276, 0.005268, 0.002072, 0.001197, 0.001128, 0.000770,
    0.001745, 0.005726, 0.013841, 0.011274, 0.011326, 0.015418,
    0.021772, 0.022273, 0.026765, 0.036547, 0.056811, 0.121488,
    0.170231, 0.115440, 0.090969, 0.089329, 0.091158, 0.066175,
)
HOME_WEEKEND: Final = (
    0.040789, 0.020250, 0.007714, 0.003210, 0.002087, 0.001295,
    0.001310, 0.003742, 0.009139, 0.016940, 0.030368, 0.048014,
    0.060276, 0.061658, 0.061557, 0.068984, 0.087608, 0.102145,
    0.078728, 0.065055, 0.067645, 0.062234, 0.057815, 0.041436,
)
# ACN-Data, Caltech 2019 garage (AC) and 2021 DC fast charger, by local hour of arrival.
CAMPUS_WEEKDAY: Final = (
    0.000945, 0.000315, 0.000000, 0.000315, 0.000630, 0.002204,
    0.030856, 0.029597, 0.189232, 0.231423, 0.133816, 0.058249,
    0.069584, 0.063287, 0.034635, 0.018577, 0.028967, 0.025819,
    0.034635, 0.013224, 0.012594, 0.015428, 0.003778, 0.001889,
)
CAMPUS_WEEKEND: Final = (
    0.002849, 0.005698, 0.011396, 0.000000, 0.002849, 0.000000,
    0.008547, 0.034188, 0.091168, 0.062678, 0.102564, 0.088319,
    0.076923, 0.059829, 0.051282, 0.102564, 0.076923, 0.062678,
    0.019943, 0.039886, 0.031339, 0.039886, 0.017094, 0.011396,
)
DC_WEEKDAY: Final = (
    0.010178, 0.007634, 0.002545, 0.000000, 0.000000, 0.010178,
    0.043257, 0.027990, 0.048346, 0.033079, 0.043257, 0.033079,
    0.027990, 0.055980, 0.068702, 0.066158, 0.083969, 0.078880,
    0.083969, 0.086514, 0.089059, 0.048346, 0.022901, 0.027990,
)
DC_WEEKEND: Final = (
    0.006135, 0.018405, 0.000000, 0.000000, 0.000000, 0.000000,
    0.030675, 0.036810, 0.073620, 0.061350, 0.085890, 0.067485,
    0.042945, 0.079755, 0.055215, 0.055215, 0.055215, 0.055215,
    0.049080, 0.073620, 0.079755, 0.049080, 0.006135, 0.018405,
)

# ElaadNL quantile tables, lognormal fits (fitting.elaad_quantile_fits).
PUBLIC_CONNECTION_H: Final = Lognormal(mu=1.423727, sigma=1.343315)
PUBLIC_ENERGY_KWH: Final = Lognormal(mu=1.975584, sigma=1.068866)
WORKPLACE_CONNECTION_H: Final = Lognormal(mu=1.468650, sigma=0.864622)
WORKPLACE_ENERGY_KWH: Final = Lognormal(mu=2.193843, sigma=0.869903)
HOME_CONNECTION_H: Final = Lognormal(mu=2.103237, sigma=0.965406)
HOME_ENERGY_KWH: Final = Lognormal(mu=2.805468, sigma=1.077502)
# Caltech 2019: connection time a two-lognormal mixture (EM), energy a lognormal (MLE).
CAMPUS_CONNECTION_H: Final = Mixture(
    weights=(0.616572, 0.383428),
    parts=(Lognormal(mu=1.126952, sigma=0.933761), Lognormal(mu=2.110195, sigma=0.173994)),
)
CAMPUS_ENERGY_KWH: Final = Lognormal(mu=1.643880, sigma=1.043126)
# Caltech 2021 DC: fitted in ln minutes (mu=3.709926), shifted by ln 60 to hours.
DC_CONNECTION_H: Final = Lognormal(mu=-0.384419, sigma=0.634070)
DC_ENERGY_KWH: Final = Lognormal(mu=2.954994, sigma=0.737010)

# Sessions per connector per day (fitting.sessions_per_connector_per_day).
CAMPUS_PER_DAY: Final = 0.694056
CAMPUS_WEEKEND_FACTOR: Final = 0.277870
DC_PER_DAY: Final = 4.517241
DC_WEEKEND_FACTOR: Final = 1.002332

# ElaadNL ev_specs.json: the Dutch fleet by registrations.
EV_MIX: Final = (
    EvSpec('Tesla Model 3', 45545, 57.5, 11.0, 170.0),
    EvSpec('Kia Niro', 23105, 64.8, 11.0, 80.0),
    EvSpec('Volkswagen ID.3', 19950, 58.0, 11.0, 120.0),
    EvSpec('Hyundai Kona', 17752, 64.0, 11.0, 77.0),
    EvSpec('Tesla Model Y', 16186, 57.5, 11.0, 170.0),
    EvSpec('Skoda Enyaq', 16165, 58.0, 11.0, 124.0),
    EvSpec('Peugeot 208', 14017, 46.3, 7.4, 101.0),
    EvSpec('Renault Zoe', 14008, 52.0, 22.0, 46.0),
    EvSpec('Volkswagen ID.4', 13283, 77.0, 11.0, 135.0),
    EvSpec('Volvo XC40', 12520, 66.0, 11.0, 135.0),
    EvSpec('Nissan Leaf', 11977, 39.0, 3.6, 46.0),
    EvSpec('Tesla Model S', 10899, 75.0, 11.0, 250.0),
    EvSpec('Volkswagen Golf', 10019, 32.0, 7.2, 40.0),
)
