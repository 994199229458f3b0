"""The rehearsal report: seconds and result per phase, resource counts and the exclusion list, as
text and as JSON (``--report-json``, read by ``make bench``)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from scripts.rehearsal.common import ACCOUNT_STACK, EXCLUSIONS, STATE_STACK, log


@dataclass
class Report:
    environment: str
    endpoint: str = ""
    resources: int = 0
    state_resources: int = 0
    account_resources: int = 0
    types: int = 0
    phases: list[tuple[str, float, str]] = field(default_factory=list)
    excluded_here: list[str] = field(default_factory=list)
    # Seconds per terraform/cdktf command of the main line, in order (logs/steps.tsv): where a phase goes.
    steps: list[tuple[str, float]] = field(default_factory=list)
    failure: str = ""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[list[str]]:
        note: list[str] = []
        started = time.perf_counter()
        log(f"[rehearsal] {name} ...")
        try:
            yield note
        except BaseException as err:
            self.phases.append((name, time.perf_counter() - started, "FAILED"))
            self.failure = f"{name}: {err}"
            raise
        self.phases.append((name, time.perf_counter() - started, "; ".join(note) or "ok"))

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report (``--report-json``; read by ``make bench``)."""
        return {"environment": self.environment, "ok": not self.failure, "failure": self.failure,
                "resources": self.resources, "state_resources": self.state_resources,
                "account_resources": self.account_resources,
                "phases": {name: round(seconds, 2) for name, seconds, _ in self.phases},
                "steps": [[what, seconds] for what, seconds in self.steps],
                "exclusions": [e.target for e in EXCLUSIONS], "excluded_here": self.excluded_here}

    def text(self) -> str:
        lines = [f"rehearsal report: payments-{self.environment} against {self.endpoint or 'moto'}",
                 f"  resources: {self.resources} ({self.types} types) in payments-{self.environment}, "
                 f"{self.state_resources} in {STATE_STACK}, {self.account_resources} in {ACCOUNT_STACK}",
                 f"  {'phase':<14}{'seconds':>8}  result"]
        lines += [f"  {name:<14}{seconds:>8.1f}  {result}" for name, seconds, result in self.phases]
        lines.append(f"  {'total':<14}{sum(p[1] for p in self.phases):>8.1f}")
        lines.append(f"  exclusions ({len(EXCLUSIONS)} listed in modules/rehearsal.py, "
                     f"{len(self.excluded_here)} match this stack):")
        lines += [f"    - {e.target} [{e.kind}{'' if e.target in self.excluded_here else ', not in stack'}]"
                  f": {e.reason}; error: {e.error}" for e in EXCLUSIONS] or ["    (none)"]
        lines.append(f"rehearsal: FAILED in {self.failure}" if self.failure else "rehearsal: OK")
        return "\n".join(lines)


def exclusions_in(stack_json: Mapping[str, Any]) -> list[str]:
    """The exclusions that match a resource of this stack."""
    types = set(stack_json.get("resource", {}))
    return [e.target for e in EXCLUSIONS if e.resource_type in types]
