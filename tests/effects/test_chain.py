"""Chain validation: typed, bounded parameters and error messages that name op, index and parameter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scenecraft.effects.chain import MAX_OPS, OPS, Chain, ChainError, parse_chain


def problems(obj: object) -> list[str]:
    with pytest.raises(ChainError) as info:
        parse_chain(obj)
    return info.value.problems


def test_the_issue_example_parses_with_defaults_filled() -> None:
    chain = parse_chain(
        '[{"op": "exposure", "stops": 0.5}, {"op": "bloom", "strength": 0.6},'
        ' {"op": "vignette", "amount": 0.4}]'
    )
    assert [op.name for op in chain.ops] == ["exposure", "bloom", "vignette"]
    data = chain.to_json()
    assert data[1] == {"op": "bloom", "strength": 0.6, "threshold": 0.7, "radius": 0.03}
    assert parse_chain(data) == chain  # the normalised form round-trips
    assert parse_chain({"ops": data}) == chain


def test_out_of_range_parameter_names_index_op_parameter_and_bound() -> None:
    (msg,) = problems([{"op": "exposure"}, {"op": "bloom", "strength": 5}])
    assert msg == "op 1 (bloom): parameter 'strength': Input should be less than or equal to 3 (got 5)"


def test_wrong_type_is_reported_with_the_value() -> None:
    (msg,) = problems([{"op": "vignette", "amount": "lots"}])
    assert msg.startswith("op 0 (vignette): parameter 'amount': Input should be a valid number")
    assert "'lots'" in msg


def test_unknown_op_lists_the_ops() -> None:
    (msg,) = problems([{"op": "blom"}])
    assert msg.startswith("op 0: unknown op 'blom'; ops are: bloom, chromatic_aberration")
    assert all(name in msg for name in OPS)


def test_unknown_parameter_lists_the_allowed_ones() -> None:
    (msg,) = problems([{"op": "vignette", "amout": 0.3}])
    assert msg == "op 0 (vignette): unknown parameter 'amout'; parameters are: amount, radius, softness"


def test_every_fault_is_reported_at_once() -> None:
    found = problems([{"op": "contrast", "amount": -1}, {"stops": 1}, 7, {"op": "particles", "kind": "hail"}])
    assert found[0].startswith(
        "op 0 (contrast): parameter 'amount': Input should be greater than or equal to 0"
    )
    assert found[1].startswith("op 1: missing 'op'")
    assert found[2].startswith("op 2: must be an object")
    assert found[3].startswith(
        "op 3 (particles): parameter 'kind': Input should be 'rain', 'snow', 'sparks' or"
    )


def test_colour_channels_are_bounded() -> None:
    (msg,) = problems([{"op": "fog", "colour": [0.5, 1.5, 0.2]}])
    assert msg.startswith("op 0 (fog): parameter 'colour.1': Input should be less than or equal to 1")


def test_lut_needs_exactly_one_source_and_a_full_table() -> None:
    assert problems([{"op": "lut"}]) == ["op 0 (lut): give exactly one of 'preset' or 'table' (with 'size')"]
    (msg,) = problems([{"op": "lut", "size": 2, "table": [[0, 0, 0]] * 7}])
    assert msg == "op 0 (lut): 'table' must hold size³ = 8 RGB triples for size 2, got 7"
    (msg,) = problems([{"op": "lut", "size": 2, "table": [[0, 0, 0]] * 7 + [[0, 2, 0]]}])
    assert msg.startswith("op 0 (lut): parameter 'table.7.1': Input should be less than or equal to 1")


def test_chain_shape_errors() -> None:
    assert problems("not json")[0].startswith("the chain is not valid JSON")
    assert problems({"op": "exposure"}) == ["the chain must be a JSON list of ops, got dict"]
    assert problems([{"op": "exposure"}] * (MAX_OPS + 1)) == [f"a chain holds at most {MAX_OPS} ops"]
    assert parse_chain([]) == Chain([])


def test_chain_flags() -> None:
    assert not parse_chain([{"op": "grain"}]).is_animated
    assert parse_chain([{"op": "grain", "animated": True}]).is_animated
    assert parse_chain([{"op": "particles"}]).is_animated
    chain = parse_chain([{"op": "fog"}, {"op": "relight"}])
    assert chain.uses_depth and chain.uses_normals
    assert not parse_chain([{"op": "bloom"}]).uses_depth


def test_error_is_a_value_error_with_one_line_message() -> None:
    with pytest.raises(ValueError, match=r"^invalid effects chain: op 0 \(saturation\)"):
        parse_chain(json.dumps([{"op": "saturation", "amount": 9}]))


def test_schema_imports_without_torch() -> None:
    """The API process validates chains without loading torch (DESIGN: api/ never imports torch)."""
    code = (
        "import sys; from scenecraft.effects import parse_chain; parse_chain([{'op': 'bloom'}]);"
        " print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
