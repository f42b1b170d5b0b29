"""Where the API is and which token to send: options, then environment, then the file
`campaignctl login` wrote.

The file lives in the user's config directory (``$XDG_CONFIG_HOME/campaignctl``, else
``~/.config/campaignctl``) and holds a bearer token, so only its owner may read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from campaignctl.errors import CliError

DEFAULT_API_URL = "http://127.0.0.1:8000"
ENV_API_URL = "CAMPAIGNCTL_API_URL"
ENV_TOKEN = "CAMPAIGNCTL_TOKEN"
FILE_NAME = "config.json"


# Where the token came from: what to say when the API refuses it.
GIVEN, FROM_ENV, FROM_FILE = "given", "env", "file"


@dataclass(frozen=True, slots=True)
class Credentials:
    api_url: str
    token: str | None
    token_source: str | None = field(default=GIVEN, compare=False)


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "campaignctl" / FILE_NAME


def load(path: Path) -> dict[str, str]:
    """What `login` stored; nothing when the file does not exist yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the config file {path}: {error}") from error
    if not isinstance(data, dict):
        raise CliError(f"cannot read the config file {path}: not a JSON object")
    return {key: value for key, value in data.items() if isinstance(value, str)}


def save(path: Path, api_url: str, token: str) -> None:
    """Write the file with mode 0600 from the start: the token is never readable by
    others, not even between creating the file and a later chmod."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({"api_url": api_url, "token": token}, file, indent=2)
        file.write("\n")
    # An older file of ours may have been created under a laxer umask.
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def resolve(
    api_url: str | None,
    token: str | None,
    env: Mapping[str, str],
    stored: Mapping[str, str],
) -> Credentials:
    """Each value from the first place that has it: option, environment, file, default."""
    url = api_url or env.get(ENV_API_URL) or stored.get("api_url") or DEFAULT_API_URL
    if token:
        chosen, source = token, GIVEN
    elif env.get(ENV_TOKEN):
        chosen, source = env[ENV_TOKEN], FROM_ENV
    elif stored.get("token"):
        chosen, source = stored["token"], FROM_FILE
    else:
        chosen, source = None, None
    return Credentials(api_url=url.rstrip("/"), token=chosen, token_source=source)
