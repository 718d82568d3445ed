"""Coercion and validation of cell values per column type. Errors name the column and the value."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from db.errors import Invalid

TEXT_MAX = 10_000
LONG_TEXT_MAX = 1_000_000
JSON_MAX = 1_000_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE = {"true", "yes", "y", "1", "on", "✓", "x"}
FALSE = {"false", "no", "n", "0", "off", ""}


class BadValue(ValueError):
    """Raised by a coercer; `coerce` turns it into `Invalid` with the column's name."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(limit: int) -> Callable[[Any, Any], Any]:
    def coerce(value: Any, _options: Any) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise BadValue("expected text")
        if len(value) > limit:
            raise BadValue(f"text longer than {limit} characters")
        return value

    return coerce


def _number(value: Any, _options: Any) -> int | float:
    if isinstance(value, bool):
        raise BadValue("expected a number")
    if isinstance(value, str):
        s = value.strip().replace(",", "").replace("_", "")
        s = s.removesuffix("%")
        try:
            value = int(s) if re.fullmatch(r"[+-]?\d{1,18}", s) else float(s)
        except ValueError:
            raise BadValue("expected a number") from None
    if not isinstance(value, (int, float)):
        raise BadValue("expected a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue("expected a finite number")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    elif abs(value) >= 2**63:
        raise BadValue("number too large")
    return value


def _boolean(value: Any, _options: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        s = value.strip().lower()
        if s in TRUE:
            return True
        if s in FALSE:
            return False
    raise BadValue("expected true or false")


def _date(value: Any, _options: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        s = value.strip()
        try:
            return dt.date.fromisoformat(s).isoformat()
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(s).isoformat()
        except ValueError:
            pass
    raise BadValue("expected a date as YYYY-MM-DD")


def _match_option(value: Any, options: list[str] | None) -> str:
    if not isinstance(value, str):
        raise BadValue("expected one of the options")
    opts = options or []
    s = value.strip()
    if s in opts:
        return s
    folded = {o.casefold(): o for o in opts}
    if s.casefold() in folded:
        return folded[s.casefold()]
    raise BadValue(f"not one of the options {opts[:20]}")


def _select(value: Any, options: Any) -> str:
    return _match_option(value, options)


def _multi_select(value: Any, options: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list):
        raise BadValue("expected a list of options")
    out: list[str] = []
    for v in value:
        o = _match_option(v, options)
        if o not in out:
            out.append(o)
    return out


def _url(value: Any, _options: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("expected a URL")
    s = value.strip()
    if "://" not in s and re.fullmatch(r"[\w.-]+\.[a-z]{2,}(/\S*)?", s, re.IGNORECASE):
        s = "https://" + s
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in s or len(s) > 2048:
        raise BadValue("expected an http(s) URL")
    return s


def _email(value: Any, _options: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(value.strip()) or len(value) > 320:
        raise BadValue("expected an email address")
    return value.strip()


def _json(value: Any, _options: Any) -> Any:
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise BadValue("expected JSON") from None
    if size > JSON_MAX:
        raise BadValue("JSON larger than 1 MB")
    return value


COERCERS: dict[str, Callable[[Any, Any], Any]] = {
    "text": _text(TEXT_MAX),
    "long_text": _text(LONG_TEXT_MAX),
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "select": _select,
    "multi_select": _multi_select,
    "url": _url,
    "email": _email,
    "json": _json,
}


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def coerce(column: Mapping[str, Any], value: Any, *, check_required: bool = True) -> Any:
    """The stored form of `value` for `column` (a mapping with name, type, options, required)."""
    if is_empty(value) and column["type"] != "json":
        if check_required and column.get("required"):
            raise Invalid(
                f'Column "{column["name"]}" is required',
                column=column["name"], value=value,
            )
        return None
    if value is None:
        return None
    try:
        return COERCERS[column["type"]](value, column.get("options"))
    except BadValue as exc:
        raise Invalid(
            f'Bad value {_show(value)} for column "{column["name"]}" ({column["type"]}): {exc}',
            column=column["name"], type=column["type"], value=_show(value),
        ) from None
