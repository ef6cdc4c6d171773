"""Failover figures: replicas (``tradeloop serve --http`` subprocesses) share paced replay
strategies on one PostgreSQL database while a random replica is SIGKILLed and restarted; prints
the takeover time distribution (SIGKILL to lease taken by another replica), the outage per
strategy (SIGKILL to its next stored cycle), the ownership gaps, and what the audit found (slots
neither run nor skipped, duplicate slots, books that do not reconcile). The scenario is the one
``tests/services/test_failover.py`` asserts on (``tests/failover_scenario.py``).

PostgreSQL: ``--pg postgresql://...`` (an empty database it may fill), else a throwaway cluster
started from the server binaries on this machine (as the tests do). Run from the repository:

    PYTHONPATH=. .venv/bin/python bench/failover.py [--strategies 120] [--replicas 3]
        [--kills 10] [--ttl 3] [--slot 1] [--seed 14] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", type=int, default=120)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--ttl", type=float, default=3.0, help="lease time in seconds")
    parser.add_argument("--slot", type=float, default=1.0, help="wall seconds between slots")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--pg", help="an empty PostgreSQL database (default: a throwaway one)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"no candle data in {args.data} (see /work/shared/data/README.md)", file=sys.stderr)
        return 2
    from tests.failover_scenario import Plan

    plan = Plan(
        strategies=args.strategies,
        replicas=args.replicas,
        kills=args.kills,
        ttl_s=args.ttl,
        slot_s=args.slot,
        seed=args.seed,
    )
    if args.pg:
        return report(plan, args.pg, args.data)
    from tests.pg_cluster import throwaway_cluster

    with throwaway_cluster() as cluster:
        return report(plan, cluster.create_database(), args.data)


def report(plan: object, url: str, data: Path) -> int:
    from tests.failover_scenario import Plan, run

    assert isinstance(plan, Plan)
    with tempfile.TemporaryDirectory(prefix="tradeloop-failover-") as folder:
        found = asyncio.run(run(plan, url, data, Path(folder), log=print))
    print(found.summary())
    broken = {
        "slots neither run nor skipped, or run twice": found.slot_problems,
        "books that do not reconcile": found.books_problems,
    }
    for what, where in broken.items():
        for sid, problems in sorted(where.items()):
            print(f"{what}: {sid}: {'; '.join(problems[:3])}")
    return 1 if any(broken.values()) or found.duplicate_slots else 0


if __name__ == "__main__":
    sys.exit(main())
