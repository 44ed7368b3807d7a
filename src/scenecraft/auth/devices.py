"""A session's device name from its User-Agent: "Firefox on Linux", "Safari on iPhone".

Only the browser family and the platform are read (no version numbers: they change weekly and say
little to a person looking at a list of their sessions). Order matters: Edge and Opera say
"Chrome", Chrome says "Safari", Android says "Linux".
"""

from __future__ import annotations

MAX_USER_AGENT = 300
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Chrome (headless)"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx/", "a Python program"),
    ("python-requests/", "a Python program"),
    ("testclient", "a test client"),
)
_PLATFORMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str) -> str:
    """A short human name for a User-Agent header; "an unknown device" when it says nothing we know."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    platform = next((name for token, name in _PLATFORMS if token in user_agent), None)
    if browser and platform:
        return f"{browser} on {platform}"
    return browser or (f"a browser on {platform}" if platform else "an unknown device")
