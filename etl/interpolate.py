"""`${VAR}` and `${VAR:-default}` from the environment: the only way secrets enter a pipeline.

Values stay strings; `$${` writes a literal `${`. Values of variables that look secret (API_KEY, TOKEN, ...),
that land in a secret-looking key (`api_key:`, `headers: {Authorization: "Bearer ${X}"}`), or that are the value
of a secret-looking query parameter (`?api_key=${X}`) are registered for redaction before anything can print them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .redact import is_secret_param, register_secret

_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_REF = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")
SECRET_NAME = re.compile(r"(key|token|secret|password|passwd|credential|auth)", re.I)
_PARAM_BEFORE = re.compile(r"[?&;]([^=&?#;/]+)=$")


class Missing(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def substitute(text: str, env: Mapping[str, str], inserted: list[str] | None = None) -> str:
    """Raises Missing(name) for an unset variable with no default, ValueError for a malformed reference.
    The values taken from the environment are appended to `inserted`."""
    if _BAD_REF.search(text.replace("$${", "")):
        raise ValueError(f"malformed reference in {text!r}: write ${{NAME}} or ${{NAME:-default}}")

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise Missing(name)
            return default
        param = _PARAM_BEFORE.search(m.string, 0, m.start())
        if SECRET_NAME.search(name) or (param and is_secret_param(param.group(1))):
            register_secret(value)
        if inserted is not None:
            inserted.append(value)
        return value

    return _REF.sub(repl, text)


def interpolate(data: Any, env: Mapping[str, str], on_problem: Callable[[tuple, str], None],
                path: tuple = ()) -> Any:
    """Substitute in every string of `data`, reporting each problem with its path and going on."""
    if isinstance(data, dict):
        return {k: interpolate(v, env, on_problem, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, on_problem, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        inserted: list[str] = []
        try:
            value = substitute(data, env, inserted)
        except Missing as exc:
            where = ".".join(str(p) for p in path)
            on_problem(path, f"environment variable {exc.name} is not set (used in {where}): export it, "
                             f"or give a default with ${{{exc.name}:-value}}")
            return data
        except ValueError as exc:
            on_problem(path, str(exc))
            return data
        if path and isinstance(path[-1], str) and SECRET_NAME.search(path[-1]) and value != data:
            register_secret(value)
            for part in inserted:
                register_secret(part)
        return value
    return data
