"""Talking to the Label Studio server: where it is, the token, a checked client, one-line errors.

The token comes from the environment or a file outside the repository and is never logged: it
is kept out of `Connection`'s repr and out of every error message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import YousaidError

TOKEN_VARS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN")

T = TypeVar("T")


class LabelStudioError(YousaidError):
    """The server is down, refuses the token, or rejects a request: one line, no traceback."""


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate; the token never shows in a repr or a log."""

    url: str
    token: str = field(repr=False)


def config_file() -> Path:
    """~/.config/yousaid/label-studio.env (KEY=VALUE lines): outside any repository."""
    root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return root / "yousaid" / "label-studio.env"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as a .env file has them (comments, `export`, quotes), so analysts can
    keep the token in the same file scripts/label-studio reads."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def resolve_connection(
    default_url: str, url: str | None = None, env_file: Path | None = None
) -> Connection:
    """URL: explicit > LABEL_STUDIO_URL > config file > settings. Token: environment > file."""
    env_file = env_file or config_file()
    saved = read_env_file(env_file)
    token = next((os.environ[k] for k in TOKEN_VARS if os.environ.get(k)), None) or next(
        (saved[k] for k in TOKEN_VARS if saved.get(k)), None
    )
    if not token:
        raise LabelStudioError(
            f"no Label Studio token: set {' or '.join(TOKEN_VARS)} in the environment "
            f"or in {env_file}"
        )
    chosen = (
        url or os.environ.get("LABEL_STUDIO_URL") or saved.get("LABEL_STUDIO_URL") or default_url
    )
    return Connection(chosen.rstrip("/"), token)


def connect(conn: Connection, timeout: float = 60.0) -> Any:
    """A checked client: the server answers /health and accepts the token, or a clear error,
    so a server that is down stops a command before it reads or writes anything."""
    import httpx
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    hint = "start it with `scripts/label-studio` (or set LABEL_STUDIO_URL)"
    try:
        r = httpx.get(f"{conn.url}/health", timeout=5.0)
        up = r.status_code == 200
    except httpx.HTTPError as exc:
        raise LabelStudioError(
            f"Label Studio is not answering at {conn.url} ({type(exc).__name__}); {hint}"
        ) from None
    if not up:
        raise LabelStudioError(
            f"Label Studio at {conn.url}/health answered {r.status_code}; {hint}"
        )
    client = LabelStudio(base_url=conn.url, api_key=conn.token, timeout=timeout)
    try:
        client.users.whoami()
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio at {conn.url} refused the token (HTTP {exc.status_code}); "
            f"check {' / '.join(TOKEN_VARS)}"
        ) from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(f"Label Studio at {conn.url} failed: {type(exc).__name__}") from None
    return client


def server_url(client: Any) -> str:
    """The base URL a client talks to, recorded with a project id (ids are per server)."""
    wrapper = getattr(client, "_client_wrapper", None)
    get = getattr(wrapper, "get_base_url", None)
    return str(get()).rstrip("/") if callable(get) else ""


def api(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one SDK call; turn its errors into one line (status and the server's detail)."""
    return _run(what, call, args, kwargs, gone_ok=False)  # type: ignore[return-value]


def api_or_none(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """As `api`, but None when the thing asked for is gone (HTTP 404): a deleted project or
    task is an answer here, not a failure."""
    return _run(what, call, args, kwargs, gone_ok=True)


def _run(
    what: str, call: Callable[..., T], args: tuple, kwargs: dict[str, Any], gone_ok: bool
) -> T | None:
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        return call(*args, **kwargs)
    except ApiError as exc:
        if gone_ok and exc.status_code == 404:
            return None
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("validation_errors") or body.get("detail") or exc.body
        raise LabelStudioError(
            f"Label Studio refused to {what} (HTTP {exc.status_code}): {detail}"
        ) from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(
            f"Label Studio connection failed while trying to {what}: {type(exc).__name__}"
        ) from None
