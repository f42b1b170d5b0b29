"""JSON Schemas of the events, published under docs/events/ for other producers.

``python -m shared.events.schemas docs/events`` rewrites them; a test fails when
the files there differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.events.models import EVENT_TYPES, Event


def schema_file_name(model: type[Event]) -> str:
    return f"{model.model_fields['type'].default}.v{model.model_fields['version'].default}.json"


def render_schemas() -> dict[str, str]:
    """File name -> schema text, for every event type."""
    rendered = {}
    for model in EVENT_TYPES:
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = schema_file_name(model)
        rendered[schema_file_name(model)] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return rendered


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    for stale in set(folder.glob("*.json")) - set(written):
        stale.unlink()
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")
    for path in write_schemas(target):
        print(path)
