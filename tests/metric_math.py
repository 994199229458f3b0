"""A small CloudWatch evaluator for the SLO tests: the metric math expressions and composite alarm
rules exactly as synthesized, evaluated in Python over recorded per-minute metric series.

Enough of CloudWatch for the alarms modules/slo.py generates: statistics ``Sum`` and percentile rank
``PR(:n)`` over one period, the operators + - * / and comparisons, ``IF(c, a, b)``; a metric alarm
with one evaluation period over a sliding window (its value over the last ``period`` seconds);
missing data when a metric has no sample in the window; composite rules of ``ALARM("...")``, AND,
OR, NOT and parentheses. Anything else raises, so a new expression cannot pass untested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Callable, Mapping, Sequence

TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|[-+*/(),<>]))")


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot read {text[pos:]!r}")
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


Node = Callable[[Mapping[str, Any]], Any]


class Expression:
    """A parsed metric math expression; ``evaluate(values)`` with None for missing data."""

    def __init__(self, text: str):
        self.text, self._tokens, self._pos = text, _tokens(text), 0
        self._node = self._comparison()
        if self._pos != len(self._tokens):
            raise ValueError(f"trailing {self._tokens[self._pos:]} in {text!r}")

    def evaluate(self, values: Mapping[str, float | None]) -> float | None:
        return self._node(values)

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected!r} at {token!r} in {self.text!r}")
        self._pos += 1
        return token

    def _comparison(self) -> Node:
        left = self._additive()
        ops = {">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
               "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
        if self._peek() in ops:
            op, right = ops[self._take()], self._additive()
            return _binary(left, right, lambda a, b: 1.0 if op(a, b) else 0.0)
        return left

    def _additive(self) -> Node:
        node = self._term()
        while self._peek() in ("+", "-"):
            op, right = self._take(), self._term()
            node = _binary(node, right, (lambda a, b: a + b) if op == "+" else (lambda a, b: a - b))
        return node

    def _term(self) -> Node:
        node = self._factor()
        while self._peek() in ("*", "/"):
            op, right = self._take(), self._factor()
            node = _binary(node, right, (lambda a, b: a * b) if op == "*" else _divide)
        return node

    def _factor(self) -> Node:
        token = self._take()
        if token == "(":
            node = self._comparison()
            self._take(")")
            return node
        if token == "-":
            inner = self._factor()
            return lambda v: None if inner(v) is None else -inner(v)
        if re.fullmatch(r"\d+(\.\d+)?", token):
            number = float(token)
            return lambda v: number
        if self._peek() == "(":
            if token != "IF":
                raise ValueError(f"function {token} is not emulated")
            self._take("(")
            cond = self._comparison()
            self._take(",")
            then = self._comparison()
            self._take(",")
            other = self._comparison()
            self._take(")")

            def if_(v: Mapping[str, Any]) -> Any:
                c = cond(v)
                return None if c is None else (then(v) if c else other(v))
            return if_
        return lambda v, name=token: v[name]


def _divide(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def _binary(left: Node, right: Node, op: Callable[[float, float], float | None]) -> Node:
    def node(v: Mapping[str, Any]) -> Any:
        a, b = left(v), right(v)
        return None if a is None or b is None else op(a, b)
    return node


@dataclass
class Series:
    """Per-minute API Gateway metrics of one route: requests, 5xx, and each minute's latency samples
    as a count per latency value (ms). Windows are summed from prefix sums (days of minutes)."""

    count: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    latency: dict[int, list[int]] = field(default_factory=dict)
    _prefix: dict[int, list[int]] = field(default_factory=dict, repr=False)

    def add(self, minutes: int, requests: int, errors: int = 0, slow: int = 0,
            fast_ms: int = 80, slow_ms: int = 900) -> None:
        """``minutes`` minutes of ``requests`` a minute, ``errors`` of them 5xx and ``slow`` of them
        answered in ``slow_ms`` (the others in ``fast_ms``)."""
        for value in (fast_ms, slow_ms):
            self.latency.setdefault(value, [0] * len(self.count))
        for _ in range(minutes):
            self.count.append(requests)
            self.errors.append(errors)
            for value, samples in self.latency.items():
                samples.append((requests - slow if value == fast_ms else 0) + (slow if value == slow_ms else 0))
        self._prefix.clear()

    def statistic(self, metric: str, stat: str, end: int, minutes: int) -> float | None:
        """``stat`` of ``metric`` over minutes [end - minutes, end); None without samples."""
        start = max(0, end - minutes)
        requests = self._sum(self.count, start, end)
        if requests == 0:
            return None
        if metric == "Count" and stat == "Sum":
            return requests
        if metric == "5XXError" and stat == "Sum":
            return self._sum(self.errors, start, end)
        rank = re.fullmatch(r"PR\(:(\d+)\)", stat)
        if metric == "Latency" and rank:
            within = sum(self._sum(samples, start, end) for value, samples in self.latency.items()
                         if value <= int(rank.group(1)))
            return 100.0 * within / requests
        raise ValueError(f"{metric} {stat} is not emulated")

    def _sum(self, values: list[int], start: int, end: int) -> int:
        prefix = self._prefix.get(id(values))
        if prefix is None:
            prefix = self._prefix[id(values)] = [0, *accumulate(values)]
        return prefix[end] - prefix[start]


class MetricAlarm:
    """One synthesized ``aws_cloudwatch_metric_alarm`` with metric queries."""

    def __init__(self, body: Mapping[str, Any]):
        self.body = body
        queries = body["metric_query"]
        assert body["evaluation_periods"] == 1 and body.get("datapoints_to_alarm", 1) == 1, body["alarm_name"]
        assert body["comparison_operator"] == "GreaterThanThreshold"
        self.metrics = {q["id"]: q["metric"] for q in queries if "metric" in q}
        [self.result] = [q for q in queries if q.get("return_data")]
        self.expression = Expression(self.result["expression"])
        periods = {m["period"] for m in self.metrics.values()}
        assert len(periods) == 1, body["alarm_name"]
        self.minutes = periods.pop() // 60

    def value(self, series: Series, end: int) -> float | None:
        values = {qid: series.statistic(m["metric_name"], m["stat"], end, self.minutes)
                  for qid, m in self.metrics.items()}
        return self.expression.evaluate(values)

    def in_alarm(self, series: Series, end: int) -> bool:
        value = self.value(series, end)
        assert self.body["treat_missing_data"] == "notBreaching"
        return value is not None and value > self.body["threshold"]


RULE_TOKEN = re.compile(r'\s*(ALARM\("([^"]+)"\)|AND|OR|NOT|\(|\))')


def rule_holds(rule: str, in_alarm: Callable[[str], bool]) -> bool:
    """Evaluate a composite ``alarm_rule``; ``in_alarm(name)`` answers each ALARM("name")."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(rule.rstrip()):
        match = RULE_TOKEN.match(rule, pos)
        if not match:
            raise ValueError(f"cannot read rule at {rule[pos:]!r}")
        tokens.append(("ALARM", match.group(2)) if match.group(2) else (match.group(1), ""))
        pos = match.end()
    position = 0

    def take() -> tuple[str, str]:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def peek() -> str | None:
        return tokens[position][0] if position < len(tokens) else None

    def disjunction() -> bool:
        result = conjunction()
        while peek() == "OR":
            take()
            result = conjunction() or result
        return result

    def conjunction() -> bool:
        result = unary()
        while peek() == "AND":
            take()
            result = unary() and result
        return result

    def unary() -> bool:
        kind, name = take()
        if kind == "NOT":
            return not unary()
        if kind == "(":
            result = disjunction()
            assert take()[0] == ")"
            return result
        assert kind == "ALARM", kind
        return in_alarm(name)

    result = disjunction()
    assert position == len(tokens), rule
    return result


def reference(resource_type: str, tf_id: str) -> str:
    """How a composite rule names an alarm of the same stack (a Terraform reference)."""
    return f"${{{resource_type}.{tf_id}.alarm_name}}"


def composite_timeline(composite: Mapping[str, Any], alarms: Mapping[str, Mapping[str, Any]],
                       series: Series, minutes: Sequence[int]) -> list[int]:
    """The minutes of ``minutes`` at which the composite is in ALARM; ``alarms`` is the stack's
    ``aws_cloudwatch_metric_alarm`` resources by Terraform id."""
    by_reference = {reference("aws_cloudwatch_metric_alarm", tf_id): MetricAlarm(body)
                    for tf_id, body in alarms.items()
                    if reference("aws_cloudwatch_metric_alarm", tf_id) in composite["alarm_rule"]}
    return [end for end in minutes
            if rule_holds(composite["alarm_rule"], lambda name: by_reference[name].in_alarm(series, end))]
