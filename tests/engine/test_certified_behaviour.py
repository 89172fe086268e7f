"""The end-to-end proof that each certified model answers the Central System as
its certificate says.

Over real sockets on 127.0.0.1, the embedded CSMS sends every CSMS-initiated
action of OCPP 1.6 and of the security whitepaper, a couple of times a second
per station, to a fleet of two stations of each built-in model (sessions on,
time 60x, reaction delays off).  Then, model by model, the answers are held
against the model's profile (what its certificate says):

* an action of an OCPP 1.6 feature profile the model did not certify:
  CALLERROR NotSupported ("recognized but not supported", OCPP-J 1.6 §4.2.3);
* an action of the security whitepaper on a model without the extension:
  CALLERROR NotImplemented;
* everything certified: a CALLRESULT with a status of the action's own, the
  one the certificate implies where it implies one (HFS-2 fixed cable, C-04
  authorization cache, R-1 reservation of connector 0, SC-1.1 / SC-1.2 rate
  units, ORS-1 GetConfigurationMaxKeys, SupportedFeatureProfiles);
* no CALLERROR of any other kind, from either side.

Both sides are read: the station's counters (``csms_call.<Action>.<answer>``
per model, :mod:`fleetsim.metrics.recorder`) and what the CSMS decoded from the
wire: its stats, and every confirmation it received, kept by a tap on
``CentralSystem.on_confirmation`` (the stats count answers per action only, so
the tap is what tells the models apart on the CSMS's side, and what shows a
GetConfiguration's content).  A station's counter cannot tell the CALLERROR
NotSupported from the *status* NotSupported (UnlockStatus, ConfigurationStatus
...); the tap can: what the CSMS received as CALLRESULTs, subtracted from what
the station answered, is what it refused.

Four runs go at once, in one ``trio.run`` of about six seconds:

BUSY      every CSMS-initiated action but Reset, from the CSMS's own generators,
          against stations with sessions.
AIMED     what the generators never send, through rule templates, against idle
          stations: ReserveNow of connector 0 (R-1), a schedule in W (SC-1.2),
          GetConfiguration naming more keys than ORS-1 allows of some models,
          InstallCertificate of a real X.509 root.
RESET     Reset, alone: a station that takes it is gone for a while.
EMBEDDED  ``run()``'s own embedded CSMS at 1000x, reserving connectors.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any, Final

import msgspec
import pytest
import trio
import trustme
from cryptography import x509

from fleetsim.csms.central import CentralSystem
from fleetsim.csms.config import CsmsConfig, TrafficRule
from fleetsim.csms.server import CsmsStats, serve_csms
from fleetsim.engine.run import FleetShare, RunSpec, run, station_ids
from fleetsim.metrics.recorder import Recorder
from fleetsim.ocpp.actions import ACTION_OF_REQUEST, ACTIONS, Action
from fleetsim.ocpp.base import FeatureProfile, Initiator, Payload
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.profiles.builtin import load_builtin
from fleetsim.profiles.profile import OCPP16_PROFILES, CableKind, StationProfile
from fleetsim.sessions.simple import SimpleSessions

PROFILES: Final = load_builtin()
MODELS: Final = sorted(PROFILES)
STATIONS_PER_MODEL: Final = 2
FLEET: Final = tuple(FleetShare(model_id, STATIONS_PER_MODEL) for model_id in MODELS)
SPEED: Final = 60.0  # sessions and heartbeats at 60x; see EMBEDDED for what a far higher speed shows
RATE_PER_S: Final = 2.0  # each rule, per station per wall second
MIN_CALLS: Final = 3  # "a few times": each action reaches each model at least this often
DEADLINE_S: Final = 30.0

CSMS_INITIATED: Final = tuple(
    Action(action) for action, spec in ACTIONS.items() if spec.initiator is not Initiator.CHARGE_POINT
)
BUSY_ACTIONS: Final = tuple(action for action in CSMS_INITIATED if action is not Action.RESET)
REFUSALS: Final = {ErrorCode.NOT_SUPPORTED.value, ErrorCode.NOT_IMPLEMENTED.value}
NO_ANSWER: Final = "answered"  # the label of a confirmation without a status, on both sides here

FAR_FUTURE: Final = "2099-01-01T00:00:00Z"
# PEM framing around bytes that are no DER at all: what a station must refuse
# wherever the whitepaper asks for a certificate.
NOT_A_CERTIFICATE: Final = (
    "-----BEGIN CERTIFICATE-----\n"
    + base64.b64encode(b"fleetsim: this is not an X.509 certificate").decode()
    + "\n-----END CERTIFICATE-----\n"
)
# What the CSMS is made to believe each station holds.  Its generators send
# CancelReservation and RemoteStopTransaction only for reservations and
# transactions it knows of, and it learns of those only from the stations: a
# model without Reservation never gives it a reservation id, and real
# transactions come and go with the sessions.  Believed ones (as after a lost
# message) make every station see these calls many times; a station answers
# that it holds no such thing (Rejected), or, without Reservation, NotSupported.
# The CSMS forgets a reservation once it is answered, so there are several.
BELIEVED_RESERVATION_IDS: Final = range(987_650, 987_656)
BELIEVED_TRANSACTION_ID: Final = 2_000_000_000  # far above the CSMS's own ids, which count from 1
NAMED_KEYS: Final = ("HeartbeatInterval", "MeterValueSampleInterval")  # what the generator names (ORS-1)
W_SCHEDULE_PROFILE: Final = {
    "chargingProfileId": 7001,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]},
}


def _busy_template(action: Action) -> dict[str, Any]:
    match action:
        case Action.GET_CONFIGURATION:
            # No key: all of them (§6.23), so every answer shows SupportedFeatureProfiles.
            # The generator's other form names keys; AIMED holds that against ORS-1.
            return {"key": None}
        case Action.UPDATE_FIRMWARE:
            # Retrieval far ahead: the update is taken, and the answer is what is
            # measured, but no station reboots into the middle of the run.
            return {"retrieveDate": FAR_FUTURE}
        case Action.SIGNED_UPDATE_FIRMWARE:
            # The same, with a signing certificate that is none (see
            # test_text_that_is_no_certificate_is_refused).
            return {"firmware": {"location": "https://firmware.fleetsim.invalid/firmware.bin",
                                 "retrieveDateTime": FAR_FUTURE, "signingCertificate": NOT_A_CERTIFICATE,
                                 "signature": "ZmxlZXRzaW0="}}
    return {}


class Scenario(msgspec.Struct, frozen=True):
    name: str  # also the charge point ids' prefix, which tells the runs apart at the tap
    rules: tuple[TrafficRule, ...]
    duration_s: float
    sessions: SimpleSessions | None = None
    believed: bool = False  # seed the CSMS's beliefs (BELIEVED_*)


def _scenarios(real_root_certificate: str) -> tuple[Scenario, ...]:
    return (
        Scenario(
            "BUSY",
            tuple(TrafficRule(action, per_station_per_s=RATE_PER_S, payload=_busy_template(action))
                  for action in BUSY_ACTIONS),
            duration_s=5.0,
            # Short sessions (in simulated time), so real transactions come and go too.
            sessions=SimpleSessions(mean_idle_s=30.0, mean_connected_s=120.0),
            believed=True,
        ),
        Scenario(
            "AIMED",
            (
                TrafficRule(Action.RESERVE_NOW, per_station_per_s=RATE_PER_S, payload={"connectorId": 0}),
                TrafficRule(Action.SET_CHARGING_PROFILE, per_station_per_s=RATE_PER_S,
                            payload={"connectorId": 0, "csChargingProfiles": W_SCHEDULE_PROFILE}),
                TrafficRule(Action.GET_CONFIGURATION, per_station_per_s=RATE_PER_S, payload={"key": list(NAMED_KEYS)}),
                TrafficRule(Action.INSTALL_CERTIFICATE, per_station_per_s=RATE_PER_S,
                            payload={"certificate": real_root_certificate}),
            ),
            duration_s=3.0,
        ),
        Scenario("RESET", (TrafficRule(Action.RESET, per_station_per_s=8.0),), duration_s=2.0),
    )


# ------------------------------------------------------------------ what was seen


class Observed:
    """One run, both sides: the recorder (stations) and the CSMS's stats and
    tapped confirmations."""

    def __init__(self, spec: RunSpec, recorder: Recorder, stats: CsmsStats | None,
                 tapped: list[tuple[str, Payload, Payload]]) -> None:
        self.spec = spec
        self.recorder = recorder
        self.stats = stats
        model_of = dict(station_ids(spec))
        self.results: dict[tuple[str, str], list[tuple[Payload, Payload]]] = {}
        for charge_point_id, request, confirmation in tapped:
            model_id = model_of.get(charge_point_id)
            if model_id is not None:
                key = (model_id, ACTION_OF_REQUEST[type(request)])
                self.results.setdefault(key, []).append((request, confirmation))

    def answers(self, model_id: str, action: str) -> Counter[str]:
        """What the model's stations answered, by status or CALLERROR code (station side)."""
        prefix = f"csms_call.{action}."
        counters = self.recorder.models[model_id].counters
        return Counter({name.removeprefix(prefix): n for name, n in counters.items() if name.startswith(prefix)})

    def exchanges(self, model_id: str, action: str) -> list[tuple[Payload, Payload]]:
        """(request, confirmation) of every CALLRESULT the CSMS received from the model."""
        return self.results.get((model_id, action), [])

    def result_labels(self, model_id: str, action: str) -> Counter[str]:
        return Counter(label(confirmation) for _, confirmation in self.exchanges(model_id, action))

    def refusals(self, model_id: str, action: str) -> Counter[str]:
        """The CALLERRORs by code: what the station answered less what reached the CSMS as CALLRESULTs."""
        return self.answers(model_id, action) - self.result_labels(model_id, action)


def label(confirmation: Payload) -> str:
    status = getattr(confirmation, "status", None)
    return NO_ANSWER if status is None else str(status)


def status_values(action: str) -> frozenset[str] | None:
    """The values of the action's confirmation status (OCPP 1.6 §7), or None
    for a confirmation without one."""
    for field in msgspec.structs.fields(ACTIONS[action].confirmation):
        if field.name == "status":
            return frozenset(member.value for member in field.type)
    return None


# ------------------------------------------------------------------ the certificate's answers


def certified_security(profile: StationProfile) -> bool:
    """The security whitepaper's extension passed (it is no value of SupportedFeatureProfiles)."""
    return FeatureProfile.SECURITY in profile.profiles_passed


def expected_refusal(profile: StationProfile, action: str) -> str | None:
    """The CALLERROR a station of ``profile`` answers ``action`` with, or None
    when it takes the call."""
    feature = ACTIONS[action].profile
    if feature is FeatureProfile.SECURITY:
        return None if certified_security(profile) else ErrorCode.NOT_IMPLEMENTED.value
    return None if feature in profile.supported_profiles else ErrorCode.NOT_SUPPORTED.value


def fixed_cable(profile: StationProfile) -> bool:
    """HFS-2, or a tethered connector in the connector table."""
    return bool(profile.hardware.fixed_cable) or any(c.cable is CableKind.FIXED for c in profile.hardware.connectors)


def unit_certified(profile: StationProfile, unit: str) -> bool:
    """SC-1.1 (limits in A) and SC-1.2 (limits in W)."""
    return bool({"A": profile.features.charging_rate_current, "W": profile.features.charging_rate_power}[unit])


# ------------------------------------------------------------------ the runs


Finished = tuple[RunSpec, Recorder, CsmsStats | None]


async def _exercise(scenario: Scenario, into: dict[str, Finished]) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(traffic=scenario.rules, seed=7))
        spec = RunSpec(fleet=FLEET, duration_s=scenario.duration_s, seed=7, csms_url=csms.url,
                       id_prefix=scenario.name, speed=SPEED, reaction_delays=False, sessions=scenario.sessions,
                       stop_grace_s=1.0)
        if scenario.believed:
            for charge_point_id, _ in station_ids(spec):
                state = csms.central.state(charge_point_id)
                state.reservations.update(dict.fromkeys(BELIEVED_RESERVATION_IDS, 1))
                state.transactions[BELIEVED_TRANSACTION_ID] = "FLEETSIM-BELIEVED"
        await run(spec, PROFILES, recorder)
        # Every answer a station wrote before its connection closed is read
        # before the CSMS sees the close: wait for the closes, then stop.
        while csms.stats.connections_open:
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    into[scenario.name] = (spec, recorder, csms.stats)


ACCELERATED_MODEL: Final = "bescore-bsc-s12bcc"
ACCELERATED_SPEED: Final = 1000.0


async def _exercise_embedded(into: dict[str, Finished]) -> None:
    """ReserveNow from ``run()``'s own embedded CSMS, whose call rates follow the
    speed: the generator's reservations last 15 minutes."""
    recorder = Recorder()
    rule = TrafficRule(Action.RESERVE_NOW, per_station_per_hour=4.0 * 3600 / ACCELERATED_SPEED)  # 4/s of wall time
    spec = RunSpec(fleet=(FleetShare(ACCELERATED_MODEL, 1),), duration_s=3.0, seed=7, id_prefix="EMBEDDED",
                   speed=ACCELERATED_SPEED, reaction_delays=False, sessions=None, embedded_traffic=(rule,),
                   stop_grace_s=0.5)
    await run(spec, PROFILES, recorder)
    into["EMBEDDED"] = (spec, recorder, None)


async def _exercise_all(scenarios: tuple[Scenario, ...]) -> dict[str, Finished]:
    finished: dict[str, Finished] = {}
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            for scenario in scenarios:
                nursery.start_soon(_exercise, scenario, finished)
            nursery.start_soon(_exercise_embedded, finished)
    return finished


@pytest.fixture(scope="module")
def runs() -> dict[str, Observed]:
    tapped: list[tuple[str, Payload, Payload]] = []
    on_confirmation = CentralSystem.on_confirmation

    def tap(self: CentralSystem, charge_point_id: str, request: Payload, confirmation: Payload) -> None:
        tapped.append((charge_point_id, request, confirmation))
        on_confirmation(self, charge_point_id, request, confirmation)

    real_root = trustme.CA().cert_pem.bytes().decode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CentralSystem, "on_confirmation", tap)
        finished = trio.run(_exercise_all, _scenarios(real_root))
    return {name: Observed(spec, recorder, stats, tapped) for name, (spec, recorder, stats) in finished.items()}


# ------------------------------------------------------------------ the fleet is a fair test


def test_the_certificates_split_the_fleet_on_every_question_asked() -> None:
    """Each expectation below has models on both sides of it, so none holds vacuously."""
    profiles = [PROFILES[m] for m in MODELS]
    with_reservation = [p for p in profiles if FeatureProfile.RESERVATION in p.supported_profiles]
    with_smart_charging = [p for p in profiles if FeatureProfile.SMART_CHARGING in p.supported_profiles]
    for feature in set(OCPP16_PROFILES) - {FeatureProfile.CORE}:
        assert {feature in p.supported_profiles for p in profiles} == {True, False}, feature
    assert {certified_security(p) for p in profiles} == {True, False}
    assert {bool(p.features.authorization_cache) for p in profiles} == {True, False}  # C-04
    assert {bool(p.features.reserve_whole_station) for p in with_reservation} == {True, False}
    assert {unit_certified(p, "W") for p in with_smart_charging} == {True, False}  # SC-1.2
    # As the certificates read: bionever is Core only; taeseong Core, Firmware Management, Remote Trigger.
    assert PROFILES["bionever-bss011k-v1000"].supported_profiles == {FeatureProfile.CORE}
    assert PROFILES["taeseongcontech-tsct-2007cp"].supported_profiles == {
        FeatureProfile.CORE, FeatureProfile.FIRMWARE_MANAGEMENT, FeatureProfile.REMOTE_TRIGGER}


@pytest.mark.parametrize("model_id", MODELS)
def test_every_csms_call_reaches_every_model_a_few_times(runs: dict[str, Observed], model_id: str) -> None:
    busy = runs["BUSY"]
    seen = {action: sum(busy.answers(model_id, action).values()) for action in BUSY_ACTIONS}
    assert {action: n for action, n in seen.items() if n < MIN_CALLS} == {}
    assert sum(runs["RESET"].answers(model_id, Action.RESET).values()) >= 1


# ------------------------------------------------------------------ refused: what was not certified


@pytest.mark.parametrize("model_id", MODELS)
def test_an_ocpp16_feature_profile_not_certified_is_not_supported(runs: dict[str, Observed], model_id: str) -> None:
    """OCPP-J 1.6 §4.2.3: every 1.6 implementation knows the action names, so an
    action of a feature profile the model lacks is NotSupported, never answered."""
    profile, busy = PROFILES[model_id], runs["BUSY"]
    lacking = [a for a in BUSY_ACTIONS if ACTIONS[a].profile is not FeatureProfile.SECURITY
               and expected_refusal(profile, a) is not None]
    wrong = {a: (dict(busy.answers(model_id, a)), dict(busy.result_labels(model_id, a))) for a in lacking
             if busy.result_labels(model_id, a) or set(busy.answers(model_id, a)) != {ErrorCode.NOT_SUPPORTED.value}}
    assert wrong == {}
    lacking_features = set(OCPP16_PROFILES) - profile.supported_profiles
    assert {ACTIONS[a].profile for a in lacking} == lacking_features


@pytest.mark.parametrize("model_id", MODELS)
def test_the_security_whitepaper_is_answered_only_where_certified(runs: dict[str, Observed], model_id: str) -> None:
    """Without the extension the whitepaper's actions are unknown
    (NotImplemented); with it, each is answered with a status."""
    profile, busy = PROFILES[model_id], runs["BUSY"]
    whitepaper = [a for a in BUSY_ACTIONS if ACTIONS[a].profile is FeatureProfile.SECURITY]
    assert len(whitepaper) == 7
    for action in whitepaper:
        answers, results = busy.answers(model_id, action), busy.result_labels(model_id, action)
        if certified_security(profile):
            assert not busy.refusals(model_id, action), action
            assert results and set(results) <= status_values(action), (action, results)
        else:
            assert not results, (action, results)
            assert set(answers) == {ErrorCode.NOT_IMPLEMENTED.value}, (action, answers)


@pytest.mark.parametrize("model_id", MODELS)
def test_certified_actions_are_answered_with_statuses_of_their_own(runs: dict[str, Observed], model_id: str) -> None:
    """A CALLRESULT for every call the certificate covers (the station's count
    and the CSMS's agree, so no CALLERROR hides behind a status of the same
    name), its status one of the action's (§7), and never NotSupported or
    NotImplemented but where the certificate says so (UnlockConnector, HFS-2)."""
    profile, busy = PROFILES[model_id], runs["BUSY"]
    for action in BUSY_ACTIONS:
        if expected_refusal(profile, action) is not None:
            continue
        answers, results = busy.answers(model_id, action), busy.result_labels(model_id, action)
        assert answers == results and results, (action, answers, results)
        allowed = status_values(action)
        assert set(results) <= (allowed if allowed is not None else {NO_ANSWER}), (action, results)
        if not (action is Action.UNLOCK_CONNECTOR and fixed_cable(profile)):
            assert not set(results) & REFUSALS, (action, results)


# ------------------------------------------------------------------ statuses the certificate decides


@pytest.mark.parametrize("model_id", MODELS)
def test_a_fixed_cable_cannot_be_unlocked(runs: dict[str, Observed], model_id: str) -> None:
    """HFS-2: a tethered cable has no lock to release: UnlockConnector.conf NotSupported."""
    profile = PROFILES[model_id]
    expected = "NotSupported" if fixed_cable(profile) else "Unlocked"
    assert set(runs["BUSY"].result_labels(model_id, Action.UNLOCK_CONNECTOR)) == {expected}


@pytest.mark.parametrize("model_id", MODELS)
def test_clear_cache_follows_the_authorization_cache_row(runs: dict[str, Observed], model_id: str) -> None:
    """C-04: with an authorization cache ClearCache is Accepted; without one, Rejected."""
    expected = "Accepted" if PROFILES[model_id].features.authorization_cache else "Rejected"
    assert set(runs["BUSY"].result_labels(model_id, Action.CLEAR_CACHE)) == {expected}


@pytest.mark.parametrize("model_id", MODELS)
def test_get_configuration_lists_the_certified_feature_profiles(runs: dict[str, Observed], model_id: str) -> None:
    """SupportedFeatureProfiles (§9.1, required, read-only) names the 1.6
    profiles of the certificate, and the security extension is none of them;
    NumberOfConnectors is HFS-8."""
    profile = PROFILES[model_id]
    exchanges = runs["BUSY"].exchanges(model_id, Action.GET_CONFIGURATION)
    assert exchanges
    for request, confirmation in exchanges:
        assert request.key is None  # all keys
        keys = {entry.key: entry for entry in confirmation.configuration_key or ()}
        supported = keys["SupportedFeatureProfiles"]
        assert supported.readonly
        assert {name.strip() for name in supported.value.split(",")} == {f.value for f in profile.supported_profiles}
        assert keys["NumberOfConnectors"].value == str(profile.connector_count)
        assert not confirmation.unknown_key


@pytest.mark.parametrize("model_id", MODELS)
def test_set_charging_profile_follows_the_rate_units_certified(runs: dict[str, Observed], model_id: str) -> None:
    """SC-1.1 / SC-1.2: a schedule in a unit the model certified is Accepted, in
    the other Rejected (§5.16).  The CSMS's generator always writes A; AIMED
    sends the same TxDefaultProfile in W."""
    profile = PROFILES[model_id]
    exchanges = [e for name in ("BUSY", "AIMED") for e in runs[name].exchanges(model_id, Action.SET_CHARGING_PROFILE)]
    if FeatureProfile.SMART_CHARGING not in profile.supported_profiles:
        assert exchanges == []
        for name in ("BUSY", "AIMED"):
            assert set(runs[name].answers(model_id, Action.SET_CHARGING_PROFILE)) == {ErrorCode.NOT_SUPPORTED.value}
        return
    by_unit: dict[str, Counter[str]] = {}
    for request, confirmation in exchanges:
        unit = str(request.cs_charging_profiles.charging_schedule.charging_rate_unit)
        by_unit.setdefault(unit, Counter())[label(confirmation)] += 1
    assert {unit: set(statuses) for unit, statuses in by_unit.items()} == {
        unit: {"Accepted" if unit_certified(profile, unit) else "Rejected"} for unit in ("A", "W")
    }


@pytest.mark.parametrize("model_id", MODELS)
def test_connector_zero_is_reserved_only_where_r1_says_yes(runs: dict[str, Observed], model_id: str) -> None:
    """R-1 (ReserveConnectorZeroSupported): a reservation of connector 0 is
    Accepted by an idle station of a model that certified it, Rejected by one
    that did not (§5.13); without Reservation at all, NotSupported."""
    profile, aimed = PROFILES[model_id], runs["AIMED"]
    exchanges = aimed.exchanges(model_id, Action.RESERVE_NOW)
    if FeatureProfile.RESERVATION not in profile.supported_profiles:
        assert exchanges == []
        assert set(aimed.answers(model_id, Action.RESERVE_NOW)) == {ErrorCode.NOT_SUPPORTED.value}
        return
    assert exchanges and all(request.connector_id == 0 for request, _ in exchanges)
    expected = "Accepted" if profile.features.reserve_whole_station else "Rejected"
    assert set(aimed.result_labels(model_id, Action.RESERVE_NOW)) == {expected}
    # The generator itself never reserves connector 0: it picks connectors the
    # station reported in StatusNotification, and connector 0 is the station.
    assert all(request.connector_id > 0 for request, _ in runs["BUSY"].exchanges(model_id, Action.RESERVE_NOW))


@pytest.mark.parametrize("model_id", MODELS)
def test_get_configuration_names_no_more_keys_than_ors1_allows(runs: dict[str, Observed], model_id: str) -> None:
    """ORS-1 GetConfigurationMaxKeys: a request naming more keys is refused
    with OccurenceConstraintViolation (as OCPP 2.0.1 B06 has it for
    ItemsPerMessage); within the limit, the keys named are reported."""
    limit = PROFILES[model_id].limits.get_configuration_max_keys
    aimed = runs["AIMED"]
    if limit is not None and len(NAMED_KEYS) > limit:
        assert aimed.exchanges(model_id, Action.GET_CONFIGURATION) == []
        assert set(aimed.answers(model_id, Action.GET_CONFIGURATION)) == {
            ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION.value}
        return
    exchanges = aimed.exchanges(model_id, Action.GET_CONFIGURATION)
    assert exchanges and not aimed.refusals(model_id, Action.GET_CONFIGURATION)
    for _, confirmation in exchanges:
        assert {entry.key for entry in confirmation.configuration_key} == set(NAMED_KEYS)


@pytest.mark.parametrize("model_id", MODELS)
def test_reset_is_accepted_and_the_station_reboots(runs: dict[str, Observed], model_id: str) -> None:
    """Reset is Core (§5.14): Accepted, then the station goes down and comes back."""
    reset = runs["RESET"]
    assert set(reset.result_labels(model_id, Action.RESET)) == {"Accepted"}
    assert not reset.refusals(model_id, Action.RESET)
    assert reset.recorder.models[model_id].counters["reboot"] >= 1


# ------------------------------------------------------------------ certificates


def _is_certificate(pem: str) -> bool:
    try:
        return bool(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError:
        return False


@pytest.mark.parametrize("model_id", [m for m in MODELS if certified_security(PROFILES[m])])
def test_a_real_root_certificate_is_installed(runs: dict[str, Observed], model_id: str) -> None:
    """M05: a valid X.509 root certificate is Accepted (the other side of the
    test below: the station does not refuse everything)."""
    exchanges = runs["AIMED"].exchanges(model_id, Action.INSTALL_CERTIFICATE)
    assert exchanges and all(_is_certificate(request.certificate) for request, _ in exchanges)
    assert set(runs["AIMED"].result_labels(model_id, Action.INSTALL_CERTIFICATE)) == {"Accepted"}


@pytest.mark.parametrize(
    ("action", "certificate_of", "right_answer"),
    [
        pytest.param(Action.CERTIFICATE_SIGNED, lambda request: request.certificate_chain, "Rejected",
                     id="CertificateSigned"),
        pytest.param(Action.INSTALL_CERTIFICATE, lambda request: request.certificate, "Rejected",
                     id="InstallCertificate"),
        pytest.param(Action.SIGNED_UPDATE_FIRMWARE, lambda request: request.firmware.signing_certificate,
                     "InvalidCertificate",
                     id="SignedUpdateFirmware"),
    ],
)
def test_text_that_is_no_certificate_is_refused(runs: dict[str, Observed], action: Action, certificate_of: Any,
                                                right_answer: str) -> None:
    """What the CSMS sends in BUSY (its generator's placeholder, or
    NOT_A_CERTIFICATE) is PEM framing around bytes that are no DER: a station
    that certified the whitepaper refuses it."""
    busy = runs["BUSY"]
    answers: dict[str, Counter[str]] = {}
    for model_id in (m for m in MODELS if certified_security(PROFILES[m])):
        exchanges = busy.exchanges(model_id, action)
        assert exchanges and not any(_is_certificate(certificate_of(request)) for request, _ in exchanges)
        answers[model_id] = Counter(label(confirmation) for _, confirmation in exchanges)
    assert {model_id: set(seen) for model_id, seen in answers.items()} == {m: {right_answer} for m in answers}


# ------------------------------------------------------------------ valid frames, both ways


ALLOWED_CALLERRORS: Final = {
    "BUSY": REFUSALS,
    "AIMED": REFUSALS | {ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION.value},  # ORS-1, above
    "RESET": set(),
}


@pytest.mark.parametrize("name", sorted(ALLOWED_CALLERRORS))
def test_no_callerror_of_another_kind_and_both_sides_agree(runs: dict[str, Observed], name: str) -> None:
    """The frames both sides make are valid: the CSMS refused no station CALL,
    found nothing malformed, had no CALL time out; the stations found nothing
    malformed in what the CSMS sent or answered; the only CALLERRORs are the
    refusals the certificates explain.  And what the stations counted is what
    the CSMS decoded, answer for answer."""
    observed = runs[name]
    stats = observed.stats
    assert stats is not None
    assert (stats.errors_sent, stats.malformed_received) == ({}, {})
    assert (stats.internal_errors, stats.unexpected_answers) == (0, 0)
    assert set(stats.callerrors_received) <= ALLOWED_CALLERRORS[name]
    for action, outcomes in stats.csms_call_results.items():
        assert not {"malformed", "timeout"} & set(outcomes), (action, outcomes)
    for model_id, model in observed.recorder.models.items():
        odd = [n for n in model.counters if n.startswith(("csms.malformed.", "csms.unexpected_"))]
        assert odd == [], model_id
        assert {a: (dict(s.errors), s.timeouts) for a, s in model.exchanges.items() if s.errors or s.timeouts} == {}
    # Station side against CSMS side, per action over the fleet.
    for action, outcomes in stats.csms_call_results.items():
        counted: Counter[str] = Counter()
        for model_id in MODELS:
            counted.update({f"CallError:{code}": n for code, n in observed.refusals(model_id, action).items()})
            counted.update({("ok" if status == NO_ANSWER else status): n
                            for status, n in observed.result_labels(model_id, action).items()})
        assert counted == Counter(outcomes), action


# ------------------------------------------------------------------ time


def test_a_reservation_for_later_is_taken_whatever_the_speed(runs: dict[str, Observed]) -> None:
    """R-0: an idle station of a model that certified Reservation takes a
    reservation of an existing connector that expires in the future; only a
    reservation of its own id is replaced, others make it Occupied (§5.13)."""
    answers = runs["EMBEDDED"].answers(ACCELERATED_MODEL, Action.RESERVE_NOW)
    assert answers["Accepted"] >= 1
    assert set(answers) <= {"Accepted", "Occupied"}, answers
