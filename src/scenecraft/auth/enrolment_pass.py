"""The browser that just turned MFA on is not asked for the same code again at its next login.

Confirming enrolment uses up the code's time step (codes are single use), and an authenticator app
shows that same code for the rest of its 30 s, so a login right after enrolment could only fail.
Instead the confirm response sets a short-lived HttpOnly cookie, an HMAC of (user, step) under the
server's secret: a login from that browser, with the right password, while that step's code is
still the one on screen (the accepted step or the next, the drift window), needs no code. The
login clears the cookie. Another browser, or the same one later, needs a fresh code as always.
"""

from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "scenecraft_mfa_fresh"
STEP_SECONDS = 30
MAX_AGE = 2 * STEP_SECONDS


def _mac(secret_key: str, user_id: str, step: int) -> str:
    key = hashlib.sha256(f"mfa-fresh:{secret_key}".encode()).digest()
    return hmac.new(key, f"{user_id}:{step}".encode(), hashlib.sha256).hexdigest()


def issue(secret_key: str, user_id: str, step: int) -> str:
    """The cookie value for a code of time step `step` just accepted at enrolment."""
    return f"{step}.{_mac(secret_key, user_id, step)}"


def accepts(secret_key: str, user_id: str, value: str | None, now: float | None = None) -> bool:
    """True when `value` was issued for this user and its step's code is still on screen."""
    if not value or "." not in value or len(value) > 100:
        return False
    step_text, mac = value.split(".", 1)
    if not step_text.isdigit():
        return False
    step = int(step_text)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    if not step - 1 <= current <= step + 1:  # the drift window the code itself had
        return False
    return hmac.compare_digest(mac, _mac(secret_key, user_id, step))
