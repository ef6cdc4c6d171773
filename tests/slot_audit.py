"""Every slot of a strategy is exactly one cycle or part of one recorded skip, from the definition
of slots (multiples of ``decide_interval`` after the first) and of a skip row ("missed N slot(s)
from A to B": the row sits at the first missed slot and covers N slots)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MISSED = re.compile(r"^missed (\d+) slot\(s\)")


@dataclass(frozen=True)
class SlotRow:
    slot_ts: int
    status: str
    reason: str | None


def slot_problems(rows: Sequence[SlotRow], step_ms: int) -> list[str]:
    """What breaks the rule in one strategy's rows ordered by slot (empty: none): a slot run
    twice or covered twice, a slot neither run nor recorded as skipped, a skip that does not say
    how many slots it covers."""
    problems: list[str] = []
    if not rows:
        return ["no cycle at all"]
    expected = rows[0].slot_ts
    for row in rows:
        if row.slot_ts != expected:
            what = "twice" if row.slot_ts < expected else "neither run nor skipped before it"
            problems.append(f"slot {row.slot_ts}: expected {expected} ({what})")
            expected = row.slot_ts
        covered = 1
        if row.status == "skipped":
            match = MISSED.match(row.reason or "")
            if match is None:
                problems.append(f"slot {row.slot_ts}: a skip that counts no slots: {row.reason}")
            else:
                covered = int(match[1])
        expected += covered * step_ms
    return problems
