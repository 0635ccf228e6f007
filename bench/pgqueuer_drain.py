"""Drain benchmark for pgqueuer, the reference PostgreSQL queue `researchops bench queue` compares to.

Same workload as ours: N no-op jobs enqueued first, then drained. pgqueuer's defaults otherwise:
asyncpg driver, its durable tables, dequeue batch size 100, no per-entrypoint concurrency limit.
Prints one JSON line: {"jobs": N, "seconds": s, "jobs_per_second": r}.

Usage: python3 bench/pgqueuer_drain.py POSTGRES_URL N   (the database must be empty of pgqueuer tables)
"""

import asyncio
import json
import sys
import time

import asyncpg
from pgqueuer import types
from pgqueuer.db import AsyncpgDriver
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries


async def main(dsn: str, jobs: int) -> None:
    connection = await asyncpg.connect(dsn)
    driver = AsyncpgDriver(connection)
    queries = Queries(driver)
    await queries.install()
    for start in range(0, jobs, 1000):
        size = min(1000, jobs - start)
        await queries.enqueue(["noop"] * size, [None] * size, [0] * size)
    manager = QueueManager(queries)
    done = 0

    @manager.entrypoint("noop")
    async def noop(_job) -> None:
        nonlocal done
        done += 1

    started = time.perf_counter()
    await manager.run(batch_size=100, mode=types.QueueExecutionMode.drain)
    seconds = time.perf_counter() - started
    await connection.close()
    print(json.dumps({"jobs": done, "seconds": seconds, "jobs_per_second": done / seconds}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
