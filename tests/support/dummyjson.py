"""The DummyJSON stand-in from scripts/, running in a thread for the length of a `with` block."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dummyjson_server.py"


def load_server_module() -> ModuleType:
    """scripts/ is not a package, and the script must stay runnable on its own, so it is loaded by path."""
    module = sys.modules.get("dummyjson_server")
    if module is None:
        spec = importlib.util.spec_from_file_location("dummyjson_server", SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["dummyjson_server"] = module
        spec.loader.exec_module(module)
    return module


@contextmanager
def serve_dummyjson(products_path: str | Path | None = None, *, rate_limit: bool = False) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:PORT`) of a server on a free port.

    The rate limit is off by default: a suite makes far more than 100 requests in 10 seconds, and the
    tests that are about the limit turn it on.
    """
    server = load_server_module().make_server("127.0.0.1", 0, products_path, rate_limit=rate_limit)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="dummyjson", daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
