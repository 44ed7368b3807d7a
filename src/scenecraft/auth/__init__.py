"""Accounts and API security: passwords and users (accounts.py), sessions and CSRF (sessions.py),
TOTP MFA (mfa.py), API keys and request signing (api_keys.py), rate limits and IP filters
(gateway.py), encryption of server-held secrets (secretbox.py). No HTTP here: api/ wires it in."""
