"""Templates per event and channel, in Chinese, as Jinja2 files in ``templates/``:
``<event_type>.<channel>.j2``. A template sets ``subject`` and renders the body; it sees the
event's plain data only (the senders put no personal data there), never a sealed value."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from shared.clock import china_time

TEMPLATES = Path(__file__).resolve().parent / "templates"
LEVEL_NAMES = {
    "acceptance_point": "受理点",
    "subcentre": "分中心",
    "branch": "分部",
    "province": "省中心",
}
KIND_NAMES = {
    "account_opening": "开户",
    "deposit": "学习成果存入",
    "conversion": "学分转换",
    "certificate": "学习成果证明开具",
    "import": "社会培训成果批量导入",
}


class RenderError(ValueError):
    """A template is missing or fails to render: the delivery cannot be made as planned."""


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,  # a missing value is an error, not an empty string
        autoescape=False,  # noqa: S701 - plain text for SMS and the inbox, never HTML
        keep_trailing_newline=False,
    )
    environment.filters["china_time"] = china_time  # every time a person reads
    return environment


def template_name(event_type: str, channel: str) -> str:
    return f"{event_type}.{channel}.j2"


@cache  # the templates ship with the code: planning each event need not look at the disk
def has_template(event_type: str, channel: str) -> bool:
    return (TEMPLATES / template_name(event_type, channel)).is_file()


def placeholder(name: str) -> str:
    return f"[[{name}]]"


def fill(body: str, secrets: dict[str, str]) -> str:
    """The body with each sealed secret's placeholder replaced by the opened secret."""
    for name, value in secrets.items():
        body = body.replace(placeholder(name), value)
    return body


def render(
    event_type: str, channel: str, data: dict[str, Any], secret_names: tuple[str, ...] = ()
) -> tuple[str, str]:
    """The subject and body of ``event_type`` on ``channel``, or ``RenderError``. A template
    may name a sealed secret (``{{ activation_code }}``): it renders as a placeholder."""
    context = {
        # What a template may test for, absent unless the event has it.
        "reason": None,
        "account_number": None,
        "certificate_number": None,
        "certificate_url": None,
        **{name: placeholder(name) for name in secret_names},
        "level_name": LEVEL_NAMES.get(str(data.get("level")), ""),
        "kind_name": KIND_NAMES.get(str(data.get("kind")), "申请"),
        **data,
    }
    try:
        module = (
            _environment().get_template(template_name(event_type, channel)).make_module(context)
        )
    except TemplateError as exc:
        raise RenderError(f"{template_name(event_type, channel)}: {exc}") from exc
    return str(getattr(module, "subject", event_type)), str(module).strip()
