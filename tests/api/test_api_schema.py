"""Schemathesis against the app's own OpenAPI spec, on SQLite and PostgreSQL: generated requests to
every operation (as admin, who may call all of them) must never get a 500, and every response must
match the documented schema and content type; then schemathesis' engine with every check, and two
agents who must not read each other's interactions."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import schemathesis
from conftest_db import GREEN, RED, DbSettings, backends, fresh_database
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS as SCHEMATHESIS_CHECKS
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.main import create_app
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database

PASSWORD = "pass-word-for-tests"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _seed(client: TestClient, headers: dict, n: int, agent: str, turns) -> None:
    body = {
        "interaction_id": f"seed-{n}",
        "channel": "chat",
        "agent_id": agent,
        "team_id": "T1",
        "started_at": "2026-11-20T10:00:00+08:00",
        "turns": [{"role": r, "text": t} for r, t in turns],
    }
    assert client.post("/v1/interactions", json=body, headers=headers).status_code == 201


def _token(client: TestClient, username: str) -> str:
    return client.post("/v1/auth/token", data={"username": username, "password": PASSWORD}).json()["access_token"]


# One app per test: schemathesis' pytest plugin ends an ASGI app's lifespan (its job executor and
# queue) when the test that reached it ends, so the next test needs an app of its own.
@pytest.fixture(params=backends())
def app_and_headers(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"schema-{request.param}")
    with fresh_database(request.param, tmp) as url:
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            accounts.create_user(session, "admin", "admin", password=PASSWORD)
        db.dispose()
        app = create_app(DbSettings(database_url=url, upload_dir=tmp / "uploads"))
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {_token(client, 'admin')}"}
            for n, turns in enumerate((GREEN, RED)):  # something for reads to find
                _seed(client, headers, n, "A1", turns)
            yield app, headers


@pytest.fixture
def agent_tokens(app_and_headers) -> dict[str, str]:
    """Two agents, A1 (who has the seeded interactions) and A2 (who gets two of their own): username -> token."""
    app, headers = app_and_headers
    client = TestClient(app)
    for n, turns in enumerate((RED, GREEN), start=2):
        _seed(client, headers, n, "A2", turns)
    tokens = {}
    for username, agent in (("agent-a1", "A1"), ("agent-a2", "A2")):
        body = {"username": username, "password": PASSWORD, "role": "agent", "agent_id": agent}
        assert client.post("/v1/users", json=body, headers=headers).status_code == 201
        tokens[username] = _token(client, username)
    return tokens


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.slow
def test_no_server_error_and_responses_match_the_spec(app_and_headers):
    """Every operation in turn (schemathesis' pytest loader does not run on this pytest, so the
    operations are driven here); all failures are collected and reported together."""
    app, headers = app_and_headers
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, operations = [], 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @SETTINGS
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - schemathesis raises exception groups; reported below
            # A FlakyFailure (first call failed, the replay did not: state changed) wraps the real
            # failure; report the wrapped ones, or the message says nothing about the cause.
            inner = getattr(exc, "exceptions", ())
            detail = "; ".join(f"{type(e).__name__}: {e}" for e in inner) if inner else str(exc)
            failures.append(f"{operation.label}: {type(exc).__name__}: {detail[:1500]}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)


# --- what the engine below found, pinned ------------------------------------------------------------


def test_405_names_every_method_of_the_path(app_and_headers):
    """Starlette's 405 named the first matching route's methods only, and /v1/rules/{kind} took
    "rescore" for a kind (422)."""
    app, headers = app_and_headers
    client = TestClient(app)
    for method, path, allow in (
        ("OPTIONS", "/v1/interactions", "GET, POST"),
        ("GET", "/v1/rules/rescore", "POST"),
        ("OPTIONS", "/v1/rules/packs/forbidden", "GET, POST"),
        ("PUT", "/v1/api-keys/1", "DELETE"),
    ):
        response = client.request(method, path, headers=headers)
        assert (response.status_code, response.headers.get("allow")) == (405, allow), (method, path)
    assert client.get("/v1/rules/rescores", headers=headers).status_code == 404  # no such kind


def test_numbers_dates_and_times_are_only_what_the_spec_says(app_and_headers):
    """pydantic alone reads false as 0.0, "1.5" and true as numbers, and 0 as a date or time (Unix
    time); the spec says number, date and date-time (or local time without an offset), and so does
    the API now."""
    app, headers = app_and_headers
    client = TestClient(app)
    turn = {"role": "agent", "text": "您好"}
    chat = {"interaction_id": "strict-1", "channel": "chat", "turns": [turn]}
    refused = [
        ("GET", "/v1/interactions", {"params": {"start": "0"}}),
        ("GET", "/v1/review-queue", {"params": {"end": "1700000000"}}),
        ("GET", "/v1/teams/T1/summary", {"params": {"start": "20261120"}}),
        ("POST", "/v1/interactions", {"json": {**chat, "started_at": 0}}),
        ("POST", "/v1/interactions", {"json": {**chat, "started_at": "2026-02-30T10:00:00+08:00"}}),
        ("POST", "/v1/interactions", {"json": {**chat, "turns": [{**turn, "asr_confidence": False}]}}),
        ("POST", "/v1/interactions", {"json": {**chat, "turns": [{**turn, "start": "1.5"}]}}),
        ("POST", "/v1/interactions/seed-0/reviews", {"json": {"hits": [{"hit_id": True, "decision": "confirm"}]}}),
        ("POST", "/v1/rules/rescore", {"json": {"start": "2026-11-20", "end": "2026-11-20", "dry_run": 1}}),
        ("POST", "/v1/rules/rescore", {"json": {"start": 0, "end": "2026-11-20", "dry_run": True}}),
    ]
    for method, path, kwargs in refused:
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 422, (method, path, kwargs, response.text)
    accepted = [
        ("GET", "/v1/interactions", {"params": {"start": "2026-11-20", "end": "2026-11-20"}}),
        ("POST", "/v1/interactions", {"json": {**chat, "interaction_id": "local", "started_at": "2026-11-20 10:00"}}),
        ("POST", "/v1/interactions", {"json": {**chat, "started_at": "2026-11-20T10:00:00+08:00",
                                               "turns": [{**turn, "start": 0, "end": 1.5, "asr_confidence": 1}]}}),
        ("POST", "/v1/rules/rescore", {"json": {"start": "2026-11-20", "end": "2026-11-20", "dry_run": True,
                                                "packs": {}}}),
    ]  # fmt: skip
    for method, path, kwargs in accepted:
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, (method, path, kwargs, response.text)


# --- every check, every phase ------------------------------------------------------------------------

# All of schemathesis' checks, as `st run --checks all` (max_response_time needs a limit: not a
# conformance check): object_level_authorization in the two-agent run (it needs several users), every
# other one in the admin run. Two narrow exceptions, each with its reason, are in `_excused`.
ALL_CHECKS = {"enabled": True}
CHECK_NAMES = [check.__name__ for check in SCHEMATHESIS_CHECKS.get_all()]
PHASES = ("examples", "coverage", "fuzzing", "stateful")
ENGINE_EXAMPLES = 8  # per operation and phase: 30-50 s per backend on the 2-core development machine
HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}


def _rule_beyond_the_schema(response) -> bool:
    """A schema-valid request that breaks a rule JSON Schema cannot state (end before start, hit ids
    of another result, an uploaded version that does not exist, YAML that does not load, a turn that
    ends before it starts) is refused with 422 and a message saying which rule: the project's rule
    for bad input, which positive_data_acceptance cannot know. Any other refusal of valid data, e.g.
    a field error the schema does not explain, still fails."""
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    if isinstance(detail, str):  # a route's own check
        return True
    # request validation: only the API's own validators (type value_error), never a field's type or bounds
    return bool(detail) and all(error.get("type") == "value_error" for error in detail)


def _documented_methods(spec: dict, path: str) -> set[str]:
    """Methods of every documented path that `path` is: /v1/interactions/audio is also
    /v1/interactions/{interaction_id} (an interaction may be called "audio"), so GET is real there."""
    methods = set()
    for template, item in spec["paths"].items():
        names = re.findall(r"{(\w+)}", template)
        pattern = re.escape(template)
        for name in names:
            pattern = pattern.replace(re.escape(f"{{{name}}}"), "([^/]+)")
        match = re.fullmatch(pattern, path)
        if match is None:
            continue
        enums = {
            p["name"]: p["schema"].get("enum")
            for op in item.values()
            for p in op.get("parameters", ())
            if p["in"] == "path"
        }
        if all(enums.get(n) is None or v in enums[n] for n, v in zip(names, match.groups(), strict=True)):
            methods |= {m.upper() for m in item} & HTTP_METHODS
    return methods


def _excused(check: str, response, spec: dict) -> bool:
    if check == "positive_data_acceptance":
        return _rule_beyond_the_schema(response)
    if check == "allow_header_conformance":
        # The check compares `Allow` with the literal path's methods only; schemathesis' own
        # unsupported_method counts the templated paths a URL also matches, as this does.
        advertised = {m.strip().upper() for m in response.headers.get("allow", [""])[0].split(",")}
        return advertised & HTTP_METHODS == _documented_methods(spec, urlsplit(response.request.url).path)
    return False


def _engine_config(**settings) -> SchemathesisConfig:
    seed = os.environ.get("QA_TEST_SCHEMATHESIS_SEED")
    return SchemathesisConfig.from_dict(
        {
            **({"seed": int(seed)} if seed else {}),
            "checks": ALL_CHECKS,
            "continue-on-failure": True,  # report every failing case, not the first per operation
            "cache": {"enabled": False},  # each run on its own (and nothing written into the checkout)
            # correctness, not speed: uploading a rule pack compiles it (seconds on a loaded 2-core
            # machine), and schemathesis' default 10 s made a slow answer a failure
            "request-timeout": 60,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": ENGINE_EXAMPLES,
                "no-shrink": True,
                # the caller's credentials are given; a made-up X-API-Key would only get 401s
                "with-security-parameters": False,
            },
            "phases": {
                **{phase: {"enabled": True} for phase in PHASES},
                # Sequences follow the spec's links and Location headers. Dependency analysis would
                # also guess that every path below a created resource exists: the audio link of a
                # chat, or an interaction queued (202) and not scored yet; the API says 404 there.
                "stateful": {"enabled": True, "inference": {"algorithms": ["location-headers"]}},
            },
            **settings,
        }
    )


@dataclass
class EngineRun:
    failures: set[str] = field(default_factory=set)
    phases: set[str] = field(default_factory=set)
    checks: Counter = field(default_factory=Counter)  # check name -> times run
    identities: Counter = field(default_factory=Counter)  # who sent the requests (several-user runs)


def _run_engine(api, spec: dict) -> EngineRun:
    """Schemathesis' own engine, as `st run` drives it; every failure not `_excused`, with its request
    and the answer."""
    run = EngineRun()
    for event in from_schema(api).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, nodes in recorder.checks.items():
                case = recorder.cases[case_id].value
                run.identities[case.auth_identity] += 1
                interaction = recorder.interactions.get(case_id)
                response = interaction.response if interaction else None
                for node in nodes:
                    run.checks[node.name] += 1
                    if node.failure_info is None or (response is not None and _excused(node.name, response, spec)):
                        continue
                    message = " / ".join(str(node.failure_info.failure.message).splitlines()[:4])
                    answer = ""
                    if response is not None:
                        answer = f"\n    -> {response.status_code} {response.content[:300].decode('utf-8', 'replace')}"
                    sample = node.failure_info.code_sample[:600]
                    run.failures.add(f"{case.operation.label}: {node.name}: {message}\n    {sample}{answer}")
        elif isinstance(event, events.PhaseFinished) and event.status != Status.SKIP:
            run.phases.add(event.phase.name.value)
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            run.failures.add(f"{getattr(event, 'label', 'engine')}: {type(event.value).__name__}: {event.value}")
    return run


@pytest.mark.slow
def test_every_check_in_every_phase(app_and_headers):
    """Schemathesis' own engine (what `st run --checks all` runs) as admin, who may call every
    operation: examples, coverage (boundary and invalid values, undeclared methods, missing
    parameters), fuzzing and stateful sequences, positive and negative data, every check on but
    object_level_authorization, which needs several users (next test). Bounded by ENGINE_EXAMPLES;
    the seed is in the message (rerun it with QA_TEST_SCHEMATHESIS_SEED)."""
    app, headers = app_and_headers
    config = _engine_config(headers=headers, checks={**ALL_CHECKS, "object_level_authorization": {"enabled": False}})
    run = _run_engine(schemathesis.openapi.from_asgi("/openapi.json", app, config=config), app.openapi())
    assert set(PHASES) <= run.phases, f"phases run: {sorted(run.phases)}"
    assert set(run.checks) >= set(CHECK_NAMES) - {"object_level_authorization"}, sorted(run.checks)
    assert not run.failures, f"seed {config.seed}, {len(run.failures)} failures:\n" + "\n\n".join(sorted(run.failures))


def test_no_agent_reads_another_agents_objects(app_and_headers, agent_tokens, tmp_path):
    """object_level_authorization with two agents as peers, each with interactions of their own: what
    one agent reads (found through its listing or a link) is replayed as the other, who must not get
    it. The other checks run too, on the reads an agent may make."""
    app, _ = app_and_headers
    users = {"auth": [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in agent_tokens.items()
    ]}  # fmt: skip
    (tmp_path / "agents.json").write_text(json.dumps(users))
    config = _engine_config(
        auth={"wfc": {"path": str(tmp_path / "agents.json"), "peers": sorted(agent_tokens)}},
        # ignored_auth runs in the admin run above; here the users' credentials are put back on its
        # probe without credentials (the probe is sent with Authorization and gets 200).
        checks={**ALL_CHECKS, "ignored_auth": {"enabled": False}},
    )
    api = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    run = _run_engine(api.include(method="GET", path_regex=r"^/v1/(interactions|agents)\b"), app.openapi())
    assert set(agent_tokens) <= set(run.identities), run.identities
    assert run.checks["object_level_authorization"] > 100
    assert not run.failures, f"seed {config.seed}, {len(run.failures)} failures:\n" + "\n\n".join(sorted(run.failures))
