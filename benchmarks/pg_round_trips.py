"""Database round trips per decision on PostgreSQL: a deterministic figure beside the noisy wall time.

Runs benchmarks.decision part A on PostgreSQL (`--postgres --model-events 0`, same seeds) and counts,
while `OfferAgent.run_event` runs, every exchange in which psycopg waited to read from the server (a
statement, a COMMIT, a checkpointer pipeline sync; the SQLAlchemy engine's and the checkpointer's
connections alike), labelled by the statement's first words.

    python -m benchmarks.pg_round_trips [--events 60] [--customers 400]
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Generator
from typing import Any

import psycopg

from agent.runner import OfferAgent

_READ = 1  # psycopg.waiting.Wait.R is set in every wait that reads from the server


class RoundTrips:
    def __init__(self) -> None:
        self.by_statement: Counter[str] = Counter()
        self.decisions = 0
        self._counting = threading.Event()
        self._statement = threading.local()

    def _label(self) -> str:
        return getattr(self._statement, "text", None) or "COMMIT/ROLLBACK/pipeline sync"

    def _counted(self, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        read = False
        try:
            state = gen.send(None)
            while True:
                if not read and int(state) & _READ:
                    read = True
                    self.by_statement[self._label()] += 1
                state = gen.send((yield state))
        except StopIteration as done:
            return done.value

    def install(self) -> None:
        wait, run_event = psycopg.Connection.wait, OfferAgent.run_event
        trips = self

        def counting_wait(conn: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
            return wait(conn, trips._counted(gen) if trips._counting.is_set() else gen, *args, **kwargs)

        def labelled(method: Any) -> Any:
            def run(cur: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                words = " ".join(str(query).split()[:3])[:48] if isinstance(query, str) else "composed statement"
                trips._statement.text = words + (" (many)" if method is executemany else "")
                try:
                    return method(cur, query, *args, **kwargs)
                finally:
                    trips._statement.text = None
            return run

        execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

        def counted_run_event(agent: OfferAgent, *args: Any, **kwargs: Any) -> str:
            trips._counting.set()
            try:
                return run_event(agent, *args, **kwargs)
            finally:
                trips._counting.clear()
                trips.decisions += 1

        psycopg.Connection.wait = counting_wait  # type: ignore[method-assign,assignment]
        psycopg.Cursor.execute = labelled(execute)  # type: ignore[method-assign]
        psycopg.Cursor.executemany = labelled(executemany)  # type: ignore[method-assign]
        OfferAgent.run_event = counted_run_event  # type: ignore[method-assign,assignment]

    def report(self) -> str:
        n = max(1, self.decisions)
        total = sum(self.by_statement.values())
        lines = [f"\nround trips to PostgreSQL per decision: {total / n:.1f} ({total} over {self.decisions} decisions)"]
        lines += [f"   {count / n:6.2f}  {label}" for label, count in self.by_statement.most_common(12)]
        return "\n".join(lines)


def main() -> None:
    from benchmarks.decision import main as decision_main

    trips = RoundTrips()
    trips.install()
    sys.argv = [sys.argv[0], "--postgres", "--model-events", "0", *sys.argv[1:]]
    decision_main()
    print(trips.report())


if __name__ == "__main__":
    main()
