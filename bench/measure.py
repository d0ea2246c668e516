"""One measured run: a fresh child process, its wall time, CPU time and peak RSS.

Peak RSS comes from wait4() on that child alone, so each figure is one process's high-water mark (its
own children included, as dlt may start some), never the largest of everything the benchmark ran.

Linux carries the high-water mark of the memory a process replaces at exec() into its own: a child spawned
straight from the benchmark (vfork, or fork) would report at least the benchmark's RSS (83 MB, holding 10,000
captured batch bodies, for a floor that needs 30). So a small launcher (`python -I`, ~7 MB) forks the child,
waits for it and reports its figures through a pipe.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stderr: str


_LAUNCHER = """
import json, os, sys, time
fd, argv = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
os.write(fd, json.dumps([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
                         os.waitstatus_to_exitcode(status)]).encode())
"""


def measure(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
            stderr_path: Path | None = None) -> Measured:
    err = open(stderr_path or os.devnull, "w+b")
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-c", _LAUNCHER, str(write_end), *argv], env=env, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=err, pass_fds=(write_end,))
        os.close(write_end)
        with os.fdopen(read_end, "rb") as figures:
            answer = figures.read().decode()
        proc.wait()
        if not answer:
            raise RuntimeError(f"could not measure {argv[0]}: the launcher exited {proc.returncode}")
        wall, cpu, maxrss_kb, code = json.loads(answer)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")[-2000:]
    finally:
        err.close()
    return Measured(wall, cpu, maxrss_kb / 1024, code, text)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "interpreter": sys.executable,
    }
