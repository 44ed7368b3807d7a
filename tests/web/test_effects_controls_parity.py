"""The studio's effects panel offers every op the server renders: the ops in web/src/effects/
controls.ts are effects/chain.py's OPS, and each control's defaults are a valid op there."""

from __future__ import annotations

import re
from pathlib import Path

from scenecraft.effects.chain import OPS, parse_chain

CONTROLS = Path(__file__).resolve().parents[2] / "web" / "src" / "effects" / "controls.ts"


def test_the_panel_offers_every_server_op_with_valid_defaults() -> None:
    text = CONTROLS.read_text()
    body = text[text.index("export const CONTROLS") : text.index("];", text.index("export const CONTROLS"))]
    ops = re.findall(r"\{ op: '(\w+)', label:", body)
    assert sorted(ops) == sorted(OPS)
    defaults = re.findall(r"defaults: (\{ op: '\w+'[^}]*\})", body)
    assert len(defaults) == len(OPS)
    for default in defaults:
        # the TypeScript literal as JSON: quote keys and strings, null stays null
        as_json = re.sub(r"(\w+):", r'"\1":', default.replace("'", '"'))
        parse_chain(f"[{as_json}]")  # raises, naming the op and parameter, if the server would refuse it
