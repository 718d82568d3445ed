"""What a password must be (NIST SP 800-63B §5.1.1.2): at least 8 characters, and not one of the passwords
most often found in breaches (a bundled list: core/data/common_passwords.txt). No rules on character
classes, which the same guidance advises against."""

from __future__ import annotations

from functools import cache
from pathlib import Path

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this only stops an absurd request from costing much
COMMON = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, *, name: str = "") -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"A password has at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"A password has at most {MAX_LENGTH} characters"
    folded = password.strip().casefold()
    if folded in common_passwords():
        return "That password is one of the most common ones; choose another"
    if name and folded == name.strip().casefold():
        return "A password must not be the user name"
    return None
