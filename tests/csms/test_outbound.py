"""The requests the CSMS makes of its own accord: one generator per
CSMS-initiated action, each making schema-valid requests."""

from __future__ import annotations

import random

import msgspec
import pytest
from csms_helpers import NOW, schema_errors

from fleetsim.csms.central import ChargePointState
from fleetsim.csms.config import CsmsConfig, TrafficRule
from fleetsim.csms.outbound import GENERATORS, OutboundContext, apply_template, check_rule, generate
from fleetsim.ocpp.actions import ACTIONS, Action, Initiator
from fleetsim.ocpp.enums import AuthorizationStatus, ChargingProfilePurposeType
from fleetsim.ocpp.payloads import core, local_auth, smart_charging

CONTEXT = OutboundContext(accepted_id_tags=("TAG-A", "TAG-B"), heartbeat_interval_s=60)
CSMS_ACTIONS = sorted(name for name, spec in ACTIONS.items() if spec.initiator is not Initiator.CHARGE_POINT)


def busy_state() -> ChargePointState:
    state = ChargePointState(
        transactions={11: "TAG-A", 12: "TAG-B"}, reservations={3: 1}, charging_profiles={9: 0}, local_list_version=4
    )
    state.connector_ids.update({1, 2})
    return state


def test_every_csms_initiated_action_has_a_generator() -> None:
    assert sorted(GENERATORS) == CSMS_ACTIONS


@pytest.mark.parametrize("action", CSMS_ACTIONS)
def test_generated_requests_are_schema_valid(action: str) -> None:
    for seed in range(20):
        for state in (busy_state(), ChargePointState()):
            payload = GENERATORS[Action(action)](state, CONTEXT, random.Random(seed), NOW)
            if payload is None:
                continue
            assert isinstance(payload, ACTIONS[action].request)
            assert schema_errors(action, payload) == [], (action, payload)


def test_remote_stop_names_a_transaction_open_on_that_charge_point_or_skips() -> None:
    generator = GENERATORS[Action.REMOTE_STOP_TRANSACTION]
    stops = {generator(busy_state(), CONTEXT, random.Random(seed), NOW) for seed in range(30)}
    assert {stop.transaction_id for stop in stops} == {11, 12}
    assert generator(ChargePointState(), CONTEXT, random.Random(0), NOW) is None


def test_cancel_reservation_cancels_a_known_reservation_or_skips() -> None:
    generator = GENERATORS[Action.CANCEL_RESERVATION]
    assert generator(busy_state(), CONTEXT, random.Random(0), NOW).reservation_id == 3
    assert generator(ChargePointState(), CONTEXT, random.Random(0), NOW) is None


def test_remote_start_uses_an_accepted_tag_and_a_known_connector() -> None:
    request = GENERATORS[Action.REMOTE_START_TRANSACTION](busy_state(), CONTEXT, random.Random(1), NOW)
    assert isinstance(request, core.RemoteStartTransactionReq)
    assert request.id_tag in CONTEXT.accepted_id_tags and request.connector_id in (1, 2)


def test_set_charging_profile_is_a_tx_default_profile_with_a_limit() -> None:
    request = GENERATORS[Action.SET_CHARGING_PROFILE](ChargePointState(), CONTEXT, random.Random(2), NOW)
    assert isinstance(request, smart_charging.SetChargingProfileReq)
    profile = request.cs_charging_profiles
    assert profile.charging_profile_purpose is ChargingProfilePurposeType.TX_DEFAULT_PROFILE
    assert profile.charging_schedule.charging_schedule_period[0].limit > 0


def test_send_local_list_raises_the_version_and_lists_accepted_tags() -> None:
    request = GENERATORS[Action.SEND_LOCAL_LIST](busy_state(), CONTEXT, random.Random(0), NOW)
    assert isinstance(request, local_auth.SendLocalListReq)
    assert request.list_version == 5
    assert [entry.id_tag for entry in request.local_authorization_list or []] == ["TAG-A", "TAG-B"]


def test_generators_are_deterministic_for_a_seed() -> None:
    for action, generator in GENERATORS.items():
        first = generator(busy_state(), CONTEXT, random.Random(7), NOW)
        assert first == generator(busy_state(), CONTEXT, random.Random(7), NOW), action


def test_a_template_overrides_wire_named_fields() -> None:
    template = {"idTag": "FIXED", "connectorId": 2}
    rule = TrafficRule(Action.REMOTE_START_TRANSACTION, per_station_per_hour=1, payload=template)
    request = generate(rule, busy_state(), CONTEXT, random.Random(0), NOW)
    assert request == core.RemoteStartTransactionReq(connector_id=2, id_tag="FIXED")
    assert apply_template(core.ResetReq(type="Soft"), {}) == core.ResetReq(type="Soft")


def test_a_bad_template_fails_at_check_time() -> None:
    rule = TrafficRule(Action.RESET, per_station_per_hour=1, payload={"type": "Sideways"})
    with pytest.raises(ValueError, match="Reset"):
        check_rule(rule, CONTEXT, NOW)
    with pytest.raises(msgspec.ValidationError):
        apply_template(core.ResetReq(type="Soft"), {"unknownField": 1})


def test_the_context_takes_the_accepted_tags_of_the_config() -> None:
    config = CsmsConfig(id_tags={"A": AuthorizationStatus.ACCEPTED, "B": AuthorizationStatus.BLOCKED})
    assert OutboundContext.from_config(config).accepted_id_tags == ("A",)
