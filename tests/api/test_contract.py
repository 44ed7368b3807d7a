"""The contract is the server: Schemathesis (pinned in pyproject.toml) generates requests from
/openapi.json for every operation, as a real logged-in user (an admin, so the admin routes are
reached too), and checks every answer against the spec with all of its checks; then it walks the
spec's links (create -> read -> use -> delete) statefully. On SQLite and PostgreSQL.

Examples are bounded (EXAMPLES per operation and mode, SCENARIOS of up to STEPS calls statefully) so the
run stays within
a minute or two on 2 cores; it is marked slow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from tests.utils.factories import PASSWORD, create_user
from tests.utils.fixtures import make_settings

from scenecraft.api.app import create_app
from scenecraft.api.platform import Platform

# No check is disabled. positive_data_acceptance ("a request that fits the schema is accepted")
# is widened for five operations only, each for a rule that JSON Schema cannot state:
WIDENED_ACCEPTANCE = {
    # cross-field rules (width == height, inpaint needs a scene and a box, a pose needs a box) and
    # references (scene_asset_id must be one of yours) answer 422 naming the field
    ("POST", "/v1/jobs"): {422},
    # the schema can only say "binary": bytes that are not a PNG, JPEG or WebP image are 415 or 422
    ("POST", "/v1/assets"): {413, 415, 422},
    # a well-formed code that is not the current one (or nothing pending to confirm) is 400
    ("POST", "/v1/auth/mfa/confirm"): {400},
    # an op's cross-parameter rules (lut: exactly one of preset or table) answer 422 naming the op
    ("POST", "/v1/assets/{asset_id}/effects"): {422},
    # a cursor is opaque: only one this API returned (next_cursor) pages on, any other is 422
    ("GET", "/v1/jobs"): {422},
}
ACCEPTED = {401, 403, 404, 409, 429}  # what positive_data_acceptance itself accepts besides 2xx


def widened_acceptance(extra: set[int]) -> Callable[..., None]:
    def positive_data_acceptance_widened(ctx: Any, response: Any, case: Any) -> None:
        status = response.status_code
        if case.meta is not None and case.meta.generation.mode.is_positive and not 200 <= status < 300:
            assert status in ACCEPTED | extra, f"valid data refused with {status}: {response.text[:300]}"

    return positive_data_acceptance_widened


def checks_for(case: Any) -> list[Any]:
    extra = WIDENED_ACCEPTANCE.get((case.operation.method.upper(), case.operation.path))
    if extra is None:
        return ALL_CHECKS
    return [c for c in ALL_CHECKS if c.__name__ != "positive_data_acceptance"] + [widened_acceptance(extra)]


EXAMPLES = 8
STEPS = 15
SCENARIOS = 6
load_all_checks()
ALL_CHECKS = [check for check in CHECKS.get_all() if callable(check)]


class Login:
    """A real session of a real user: the cookie and the CSRF token, renewed after a logout."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.renew()

    def renew(self) -> None:
        client = TestClient(self.app)
        r = client.post("/v1/auth/login", json={"username": "tester", "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.cookies = {"scenecraft_session": client.cookies["scenecraft_session"]}
        self.headers = {"X-CSRF-Token": r.json()["csrf_token"]}

    def kwargs(self, case: Any) -> dict[str, Any]:
        """The session's cookie and CSRF header, except where Schemathesis broke that part of the
        request on purpose (a negative case without the cookie must reach the server without it)."""
        meta = getattr(case, "meta", None)
        components = meta.components if meta else {}
        broken = {loc for loc, info in components.items() if info.mode == GenerationMode.NEGATIVE}
        return {
            "headers": {} if ParameterLocation.HEADER in broken else dict(self.headers),
            "cookies": {} if ParameterLocation.COOKIE in broken else dict(self.cookies),
        }

    def after(self, case: Any, status: int) -> None:
        if case.operation.path in ("/v1/auth/logout", "/v1/auth/sessions/{session_id}") and status == 204:
            self.renew()


@pytest.fixture
def contract_app(tmp_path: Path, database_url: str) -> Iterator[tuple[FastAPI, Login]]:
    settings = make_settings(
        tmp_path,
        database_url,
        rate_limit_ip="1000000/minute",
        rate_limit_user="1000000/minute",
        rate_limit_key="1000000/minute",
        rate_limit_generation="1000000/minute",
        rate_limit_login="1000000/minute",
        rate_limit_login_account="1000000/hour",
        rate_limit_login_ip="1000000/hour",
        rate_limit_mfa="1000000/minute",
        quota_max_queued=100_000,
    )
    platform = Platform.from_settings(settings)
    platform.db.migrate()
    create_user(platform, "tester", role="admin")
    app = create_app(platform=platform)
    yield app, Login(app)
    platform.close()


@pytest.fixture
def api_schema(contract_app: tuple[FastAPI, Login]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", contract_app[0])


def run_operation(operation: Any, mode: GenerationMode, login: Login) -> None:
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=checks_for(case), **login.kwargs(case))
        login.after(case, response.status_code)

    run()


@pytest.mark.slow
def test_every_operation_keeps_its_contract(api_schema: Any, contract_app: tuple[FastAPI, Login]) -> None:
    """Every operation, with data that fits the schema and data that does not; all failures are
    collected (not just the first) and reported together."""
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                run_operation(operation, mode, contract_app[1])
            except hypothesis.errors.Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # no input at all (/healthz): nothing to break
            except (Exception, BaseExceptionGroup) as exc:  # a check failed: keep going, report all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_linked_operations_keep_the_contract_statefully(api_schema: Any, contract_app: tuple[FastAPI, Login]) -> None:
    login = contract_app[1]

    class Machine(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return login.kwargs(case)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            login.after(case, response.status_code)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=checks_for(case), transport_kwargs=kwargs or None)

    Machine.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_the_spec_declares_and_applies_security_schemes(app: FastAPI) -> None:
    spec = app.openapi()
    assert set(spec["components"]["securitySchemes"]) == {"session", "csrf", "bearer", "signed"}
    ops = spec["paths"]
    assert ops["/v1/auth/login"]["post"]["security"] == [] and ops["/healthz"]["get"]["security"] == []
    assert ops["/v1/keys"]["post"]["security"] == [{"session": [], "csrf": []}]  # session only
    assert ops["/v1/keys"]["get"]["security"] == [{"session": []}]
    assert ops["/v1/jobs"]["post"]["security"] == [{"session": [], "csrf": []}, {"bearer": []}, {"signed": []}]


def test_every_error_status_is_documented_with_the_error_model(app: FastAPI) -> None:
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            statuses = set(op["responses"])
            assert "403" in statuses, (method, path)  # ip_allow / ip_deny
            if op["security"]:
                assert {"401", "403", "429"} <= statuses, (method, path)
            if "requestBody" in op:
                assert {"413", "422"} <= statuses, (method, path)
            for status, entry in op["responses"].items():
                if status.startswith("4"):
                    schema_ref = entry["content"]["application/json"]["schema"]["$ref"]
                    assert schema_ref == "#/components/schemas/ErrorBody", (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_schema_bounds_match_the_validators(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["EffectsRequest"]["properties"]["chain"]["minItems"] == 1
    seed = schemas["JobCreate"]["properties"]["seed"]["anyOf"][0]
    assert seed["type"] == "integer" and seed["maximum"] == 2**53 - 1  # exact in a JSON (double) number
    links = app.openapi()["paths"]["/v1/jobs"]["post"]["responses"]["202"]["links"]
    assert links["GetJob"]["parameters"] == {"job_id": "$response.body#/id"}
