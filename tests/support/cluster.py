"""A Dask cluster on this machine, as a user starts one: a scheduler and two one-thread worker
processes from Dask's own command line, on 127.0.0.1, no dashboard (the ``cluster`` extra)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_S = 60
"""A safety net: the scheduler and the workers start in about a second each."""


@contextmanager
def local_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """The scheduler's address while the cluster runs, its files in ``folder``; the workers
    stop first, while the scheduler they say goodbye to still runs."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = folder / "scheduler.json"
    quiet = {"cwd": folder, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        deadline = time.monotonic() + START_S
        while not scheduler_file.exists():
            assert time.monotonic() < deadline and processes[0].poll() is None, "the Dask scheduler did not start"
            time.sleep(0.1)
        processes += [subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                                        "--nthreads", "1", "--no-dashboard"], **quiet) for _ in range(workers)]
        with Client(scheduler_file=str(scheduler_file), timeout=START_S) as client:
            client.wait_for_workers(workers, timeout=START_S)
            yield client.scheduler.address
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
