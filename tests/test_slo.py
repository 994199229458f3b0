"""Service level objectives: settings, the burn-rate alarms as synthesized, and what they would do.

The windows and thresholds are checked against the Google SRE workbook's table written out here
(not against modules/slo_policy.py), and recorded metric series are fed through the synthesized
metric math and composite rules (tests/metric_math.py) to show which alarm fires."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest

from modules.settings import SettingsError, build_settings
from modules.slo_policy import DEFAULT_OBJECTIVES, ROUTES, parse_objectives
from tests.support import environment_env
from tests.metric_math import Expression, Series, composite_timeline, rule_holds

# The workbook ("Alerting on SLOs", multiwindow multi-burn-rate) for a 30-day SLO window:
# severity, long window, short window (seconds), burn-rate factor.
WORKBOOK = [("page", 3600, 300, Decimal("14.4")), ("page", 21600, 1800, Decimal(6)),
            ("ticket", 259200, 21600, Decimal(1))]
REFERENCE = re.compile(r'ALARM\("\$\{aws_cloudwatch_metric_alarm\.([^.]+)\.alarm_name\}"\)')


def _slo_alarms(stack):
    return {k: v for k, v in stack.resources("aws_cloudwatch_metric_alarm").items()
            if v["alarm_name"].startswith("payment-slo-")}


def _composite(stack, route, sli, severity):
    [found] = [c for c in stack.resources("aws_cloudwatch_composite_alarm").values()
               if re.fullmatch(rf"payment-slo-{route}-{sli}-{severity}-\w+", c["alarm_name"])]
    return found


def _window(alarm):
    [period] = {q["metric"]["period"] for q in alarm["metric_query"] if "metric" in q}
    return period * alarm["evaluation_periods"]


def _pairs(stack, composite):
    """The composite's rule as [(long alarm, short alarm), ...] (each pair ANDed, pairs ORed)."""
    alarms = stack.resources("aws_cloudwatch_metric_alarm")
    pairs = []
    for group in composite["alarm_rule"].split(" OR "):
        assert group.startswith("(") and group.endswith(")") and group.count(" AND ") == 1, group
        members = sorted((alarms[tf_id] for tf_id in REFERENCE.findall(group)), key=_window, reverse=True)
        pairs.append(tuple(members))
    return pairs


def test_slo_routes_are_the_api_routes():
    from modules.api import ROUTES as API_ROUTES
    assert set(ROUTES) == set(API_ROUTES) == set(DEFAULT_OBJECTIVES)


def test_per_route_metrics_rely_on_detailed_metrics_of_every_method(stack):
    settings = stack.one("aws_api_gateway_method_settings")
    assert settings["method_path"] == "*/*" and settings["settings"]["metrics_enabled"] is True


@pytest.mark.parametrize("which, routes, slis", [
    ("stack", ["process"], ["availability"]),
    ("staging_stack", list(ROUTES), ["availability", "latency"]),
    ("prod_stack", list(ROUTES), ["availability", "latency"]),
])
def test_every_alarm_window_and_threshold_follow_from_the_objective(request, which, routes, slis):
    stack = request.getfixturevalue(which)
    api = stack.ref("aws_api_gateway_rest_api", "name")
    stage = stack.ref("aws_api_gateway_stage", "stage_name")
    seen = set()
    for route in routes:
        objective = DEFAULT_OBJECTIVES[route]
        for sli in slis:
            budget = Decimal(100) - (objective.availability if sli == "availability" else objective.latency)
            for severity in ("page", "ticket"):
                expected = sorted((long, short, factor) for sev, long, short, factor in WORKBOOK if sev == severity)
                pairs = _pairs(stack, _composite(stack, route, sli, severity))
                assert sorted((_window(lo), _window(sh), None) for lo, sh in pairs) == \
                    [(lo, sh, None) for lo, sh, _ in expected]
                for (long_alarm, short_alarm), (_, _, factor) in zip(
                        sorted(pairs, key=lambda p: _window(p[0])), expected):
                    for alarm in (long_alarm, short_alarm):
                        assert alarm["threshold"] == pytest.approx(float(factor * budget)), alarm["alarm_name"]
                        metrics = [q["metric"] for q in alarm["metric_query"] if "metric" in q]
                        assert all(m["dimensions"] == {"ApiName": api, "Method": "POST", "Resource": f"/{route}",
                                                       "Stage": stage} for m in metrics)
                        if sli == "latency":
                            assert [m["stat"] for m in metrics] == [f"PR(:{objective.latency_ms})"]
                        else:
                            assert sorted(m["metric_name"] for m in metrics) == ["5XXError", "Count"]
                        seen.add(alarm["alarm_name"])
    # Nothing else: every SLO alarm belongs to one of these pairs (6 per route and SLI).
    assert seen == {a["alarm_name"] for a in _slo_alarms(stack).values()}
    assert len(seen) == 6 * len(routes) * len(slis)


@pytest.mark.parametrize("which", ["stack", "staging_stack", "prod_stack"])
def test_slo_alarms_stay_within_cloudwatch_limits(request, which):
    for alarm in _slo_alarms(request.getfixturevalue(which)).values():
        metrics = [q for q in alarm["metric_query"] if "metric" in q]
        assert 1 <= len(metrics) <= 10
        period = metrics[0]["metric"]["period"]
        assert period % 60 == 0
        assert period * alarm["evaluation_periods"] <= (604_800 if period >= 3600 else 86_400)
        Expression(next(q["expression"] for q in alarm["metric_query"] if q.get("return_data")))


def test_only_the_composites_notify_and_window_alarms_do_not(staging_stack):
    topic = staging_stack.ref("aws_sns_topic", "arn")
    for alarm in _slo_alarms(staging_stack).values():
        assert not alarm.get("alarm_actions") and not alarm.get("ok_actions"), alarm["alarm_name"]
    composites = [c for c in staging_stack.resources("aws_cloudwatch_composite_alarm").values()
                  if c["alarm_name"].startswith("payment-slo-")]
    assert len(composites) == 2 * 2 * len(ROUTES)
    assert all(c["alarm_actions"] == [topic] == c["ok_actions"] for c in composites)


# --- recorded series through the synthesized expressions ------------------------------------------

RATE = 2000          # requests a minute (0.05 % = 1 a minute)
DAY = 1440


def _outcome(stack, sli, series, start):
    """Minutes (from ``start``) at which /process's page and ticket are in ALARM."""
    alarms = stack.resources("aws_cloudwatch_metric_alarm")
    minutes = range(start, len(series.count) + 1, 5)
    return {severity: [m - start for m in composite_timeline(_composite(stack, "process", sli, severity), alarms,
                                                             series, minutes)]
            for severity in ("page", "ticket")}


def _background(days=3):
    series = Series()
    series.add(days * DAY, RATE, errors=1, slow=1)  # 0.05 %
    return series


def _spike(sli="availability"):
    """An hour of 2 % errors, or of 20 % slow requests (the latency budget is ten times larger)."""
    series = _background()
    start = len(series.count)
    bad = RATE * (2 if sli == "availability" else 20) // 100
    series.add(60, RATE, errors=bad if sli == "availability" else 1, slow=bad if sli == "latency" else 1)
    series.add(180, RATE, errors=1, slow=1)
    return series, start


def _slow_burn():
    series = _background()
    start = len(series.count)
    series.add(3 * DAY, RATE, errors=4)  # 0.2 % for three days
    return series, start


def _check_spike(outcome):
    page = outcome["page"]
    # 2 % against 1.44 %: the 1 h window crosses after 43 minutes; the 5 m window clears it 5 minutes
    # after the spike (alarms evaluated every 5 minutes here).
    return bool(page) and min(page) <= 60 and max(page) <= 60 + 5 and not outcome["ticket"]


def _check_slow_burn(outcome):
    return not outcome["page"] and bool(outcome["ticket"]) and max(outcome["ticket"]) == 3 * DAY


def _check_quiet(outcome):
    return outcome == {"page": [], "ticket": []}


@pytest.mark.parametrize("sli", ["availability", "latency"])
def test_a_2_percent_error_spike_for_an_hour_pages_and_clears_minutes_after_it(staging_stack, sli):
    series, start = _spike(sli)
    outcome = _outcome(staging_stack, sli, series, start)
    assert _check_spike(outcome), outcome


def test_a_0_2_percent_slow_burn_for_3_days_opens_a_ticket_and_pages_nobody(staging_stack):
    series, start = _slow_burn()
    outcome = _outcome(staging_stack, "availability", series, start)
    assert _check_slow_burn(outcome), outcome
    # 0.2 % against 0.1 % after 0.05 %: the 3-day window crosses after one day of the burn.
    assert DAY < min(outcome["ticket"]) <= DAY + 10


def test_a_0_05_percent_background_stays_quiet(staging_stack):
    series = _background(days=4)
    assert _check_quiet(_outcome(staging_stack, "availability", series, 3 * DAY))
    assert _check_quiet(_outcome(staging_stack, "latency", series, 3 * DAY))


def test_no_traffic_burns_no_budget(staging_stack):
    series = Series()
    series.add(3 * DAY, 0)
    assert _check_quiet(_outcome(staging_stack, "availability", series, 0))


def _mutated(stack, window_name, **change):
    """A copy of the stack's JSON whose /process availability window alarm(s) ``window_name``
    (e.g. "page-fast-1h") have their threshold scaled or their period replaced."""
    mutated = copy.copy(stack)
    mutated.json = copy.deepcopy(stack.json)
    for alarm in mutated.json["resource"]["aws_cloudwatch_metric_alarm"].values():
        if re.fullmatch(rf"payment-slo-process-availability-{window_name}-alarm-\w+", alarm["alarm_name"]):
            alarm["threshold"] *= change.get("factor", 1)
            for query in alarm["metric_query"]:
                if "metric" in query and "period" in change:
                    query["metric"]["period"] = change["period"]
    return mutated


@pytest.mark.parametrize("window_name, change, scenario", [
    ("page-fast-1h", {"factor": 2.5}, "spike"),         # 36x instead of 14.4x: the spike goes unpaged
    ("page-fast-.*", {"factor": 2.5}, "spike"),
    ("page-fast-1h", {"period": 21600}, "spike"),      # 6 h instead of 1 h: diluted below 14.4x
    ("page-fast-5m", {"period": 3600}, "spike"),       # 1 h short window: the page outlasts the spike
    ("ticket-.*", {"factor": 3}, "slow"),              # 3x instead of 1x: the slow burn goes unticketed
    ("ticket-3d", {"period": 86400}, "slow-early"),    # 1-day window: tickets a day too early
    ("ticket-.*", {"factor": 0.2}, "quiet"),           # 0.2x: the background opens a ticket
])
def test_the_series_tests_catch_a_changed_window_or_factor(staging_stack, window_name, change, scenario):
    mutated = _mutated(staging_stack, window_name, **change)
    if scenario == "spike":
        series, start = _spike()
        assert _check_spike(_outcome(staging_stack, "availability", series, start))
        assert not _check_spike(_outcome(mutated, "availability", series, start))
    elif scenario.startswith("slow"):
        series, start = _slow_burn()
        original, changed = (_outcome(s, "availability", series, start) for s in (staging_stack, mutated))
        assert _check_slow_burn(original)
        assert not _check_slow_burn(changed) or min(changed["ticket"]) < min(original["ticket"]) - DAY // 2
    else:
        series = _background(days=4)
        assert _check_quiet(_outcome(staging_stack, "availability", series, 3 * DAY))
        assert not _check_quiet(_outcome(mutated, "availability", series, 3 * DAY))


def test_composite_rules_are_and_within_a_pair_and_or_across_pairs():
    states = {"a": True, "b": False, "c": True, "d": True}
    rule = '(ALARM("a") AND ALARM("b")) OR (ALARM("c") AND ALARM("d"))'
    assert rule_holds(rule, states.__getitem__)
    states["d"] = False
    assert not rule_holds(rule, states.__getitem__)


def test_the_evaluator_reads_what_it_cannot_emulate_as_an_error():
    with pytest.raises(ValueError):
        Expression("RATE(requests)")
    assert Expression("IF(requests > 0, 100 * errors / requests, 0)").evaluate({"requests": 0, "errors": 0}) == 0


# --- settings ---------------------------------------------------------------------------------------

def test_objectives_default_per_route_and_can_be_overridden():
    settings = build_settings({}, {"PAYMENTS_SLO_OBJECTIVES": "process:availability=99.95:latency_ms=250"})
    objectives = parse_objectives(settings.slo_objectives)
    assert (objectives["process"].availability, objectives["process"].latency_ms) == (Decimal("99.95"), 250)
    assert objectives["validate"] == DEFAULT_OBJECTIVES["validate"]


@pytest.mark.parametrize("var, value, setting", [
    ("PAYMENTS_SLO_OBJECTIVES", "refund:availability=99.9", "slo_objectives"),
    ("PAYMENTS_SLO_OBJECTIVES", "process:availability=high", "slo_objectives"),
    ("PAYMENTS_SLO_OBJECTIVES", "process:speed=99", "slo_objectives"),
    ("PAYMENTS_SLO_OBJECTIVES", "process:availability=100", "slo_objectives"),
    ("PAYMENTS_SLO_OBJECTIVES", "process:latency=90", "slo_objectives"),       # 14.4 x 10 % > 100 %
    ("PAYMENTS_SLO_OBJECTIVES", "process:latency_ms=30000", "slo_objectives"),  # above the 29 s timeout
    ("PAYMENTS_SLO_WINDOW_DAYS", "3", "slo_window_days"),
    ("PAYMENTS_SLO_ALARM_ROUTES", "process,refund", "slo_alarm_routes"),
    ("PAYMENTS_SLO_ALARM_ROUTES", "process,process", "slo_alarm_routes"),
])
def test_settings_refuse_unusable_objectives(var, value, setting):
    with pytest.raises(SettingsError) as error:
        build_settings({}, {var: value})
    assert error.value.setting == setting


def test_alarm_routes_and_latency_alarms_default_cheap_in_dev_and_full_elsewhere():
    dev, staging, prod = (build_settings({}, environment_env(e)) for e in ("dev", "staging", "prod"))
    assert (dev.slo_routes, dev.slo_latency_alarms) == (("process",), False)
    for settings in (staging, prod):
        assert (set(settings.slo_routes), settings.slo_latency_alarms) == (set(ROUTES), True)
    assert build_settings({}, {"PAYMENTS_SLO_ALARM_ROUTES": "none"}).slo_routes == ()
