"""Input the contract refuses, the same way on every path (the API inline, queued and in bulk, the
audio upload form, `qa-engine score`, `qa-engine batch`): ids that are not printable text, lone
surrogates, dates that cannot be converted, input over the size limits (QA_MAX_*); and ids with `/`
(the batch's own recording ids) readable by every route that names an interaction.

The real app through TestClient and a real uvicorn on SQLite and PostgreSQL; the real CLI in
subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import SHARED
from conftest_db import GREEN, RED, DbSettings, backends, bearer, fresh_database
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.main import create_app
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database
from qa_engine.store.models import BatchItemRow, IngestJob, InteractionRow

REPO = Path(__file__).resolve().parents[2]
CALLS = SHARED / "audio" / "calls"
PASSWORD = "pass-word-for-tests"
MB = 1024 * 1024


def chat(interaction_id: str = "in-1", turns=GREEN, **extra) -> dict:
    return {
        "interaction_id": interaction_id,
        "channel": "chat",
        "agent_id": "A1",
        "team_id": "T1",
        "started_at": "2026-11-20T10:00:00+08:00",
        "turns": [{"role": r, "text": t} for r, t in turns],
        **extra,
    }


def as_json(payload) -> bytes:
    """JSON as a client sends it; a lone surrogate travels as its `\\udXXX` escape."""
    return json.dumps(payload, ensure_ascii=True).encode("ascii")


class Api:
    def __init__(self, client: TestClient, db: Database, admin: dict, ingest: dict, audio_dir: Path):
        self.client, self.db, self.admin, self.ingest, self.audio_dir = client, db, admin, ingest, audio_dir

    def send(self, path: str, payload, **params):
        return self.client.post(
            path, content=as_json(payload), params=params, headers={**self.ingest, "Content-Type": "application/json"}
        )

    def stored(self) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(InteractionRow.id)))

    def queued(self) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(IngestJob.interaction_id)))


@pytest.fixture(scope="module", params=backends())
def api(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"input-{request.param}")
    audio_dir = tmp / "audio"
    audio_dir.mkdir()
    with fresh_database(request.param, tmp) as url:
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            accounts.create_user(session, "admin", "admin", password=PASSWORD)
            user = accounts.create_user(session, "pipe", "ingest")
            _, key = accounts.create_api_key(session, user, "pipeline")
        # A small body limit, so that the tests need not send tens of megabytes; the upload limit
        # above it, as in production. The other limits keep their defaults.
        settings = DbSettings(
            database_url=url, max_body_mb=1, max_upload_mb=2, upload_dir=tmp / "uploads", audio_dir=audio_dir,
            queue_scorer=False,
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            admin = bearer(client, "admin", PASSWORD)
            yield Api(client, db, admin, {"X-API-Key": key}, audio_dir)
        db.dispose()


@pytest.fixture(autouse=True)
def clean(request):
    yield
    if "api" in request.fixturenames:
        db = request.getfixturevalue("api").db
        with db.session() as session:
            session.execute(delete(IngestJob))
            session.execute(delete(InteractionRow))  # cascades to turns, results, reviews, appeals


# --- what every ingest path refuses ----------------------------------------------------------------

LONG_TURN = [("agent", "您好"), ("customer", "好" * 5001)]
BAD = {
    # id: (how the good interaction is changed, what the message says)
    "nul-in-id": (lambda c: c | {"interaction_id": "in\x00-1"}, "interaction_id"),
    "escape-in-agent": (lambda c: c | {"agent_id": "A\x1b[31m1"}, "agent_id"),
    "newline-in-team": (lambda c: c | {"team_id": "T\n1"}, "team_id"),
    "bidi-override-in-id": (lambda c: c | {"interaction_id": "in-\u202e1"}, "interaction_id"),
    "surrogate-in-id": (lambda c: c | {"interaction_id": "in-\ud800"}, "interaction_id"),
    "surrogate-in-text": (lambda c: c | {"turns": [{"role": "agent", "text": "您好\ud800"}]}, "turns[0].text"),
    "surrogate-in-metadata": (lambda c: c | {"metadata": {"note": ["ok", "x\udc00"]}}, "metadata.note[1]"),
    "surrogate-in-metadata-key": (lambda c: c | {"metadata": {"\ud83d": 1}}, "metadata"),
    "date-under": (lambda c: c | {"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),
    "date-over": (lambda c: c | {"started_at": "9999-12-31T23:59:59-12:00"}, "started_at"),
    "naive-date-under": (lambda c: c | {"started_at": "0001-01-01T00:00:00"}, "started_at"),
    "too-many-turns": (
        lambda c: c | {"turns": [{"role": "agent", "text": "好"}] * 2001}, "2,001 turns; the limit is 2,000 (QA_MAX_TURNS)"
    ),
    "turn-too-long": (
        lambda c: c | {"turns": [{"role": r, "text": t} for r, t in LONG_TURN]},
        "turns[1] has 5,001 characters; the limit is 5,000 (QA_MAX_TURN_CHARS)",
    ),
    "too-much-text": (
        lambda c: c | {"turns": [{"role": "agent", "text": "x" * 5000}] * 41},  # ASCII: under the body limit
        "205,000 characters of text; the limit is 200,000 (QA_MAX_TEXT_CHARS)",
    ),
    "metadata-too-big": (lambda c: c | {"metadata": {"blob": "x" * 20_000}}, "the limit is 16,384 (QA_MAX_METADATA_BYTES)"),
    "extra-field-too-big": (lambda c: c | {"crm": {"blob": "x" * 20_000}}, "the limit is 16,384 (QA_MAX_METADATA_BYTES)"),
}


def _message(response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else "; ".join(e["msg"] for e in detail)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_interaction_is_422_inline_queued_and_in_bulk(api, case):
    change, expected = BAD[case]
    bad = change(chat("in-1"))
    for params in ({}, {"wait": "false"}):
        r = api.send("/v1/interactions", bad, **params)
        assert r.status_code == 422, (params, r.status_code, r.text[:500])
        assert expected in _message(r), r.text[:500]
    r = api.send("/v1/interactions/bulk", {"interactions": [chat("in-good"), bad]})
    assert r.status_code == 422, r.text[:500]
    assert expected in _message(r), r.text[:500]
    assert api.stored() == set() and api.queued() == set()  # nothing kept, the good one neither
    # and the same interaction made good is accepted: the refusal was about that one thing
    assert api.send("/v1/interactions", chat("in-1")).status_code == 201


def test_lone_surrogate_in_any_request_body_is_422(api):
    """Not only interactions: every body's text fields refuse it, and the 422 that echoes it back
    can be written."""
    assert api.send("/v1/interactions", chat("in-1")).status_code == 201
    for path, body in (
        ("/v1/interactions/in-1/reviews", {"comment": "ok\ud800"}),
        ("/v1/interactions/in-1/appeals", {"reason": "\udfff"}),
        ("/v1/users", {"username": "u\ud800", "role": "admin", "password": "p" * 12}),
    ):
        r = api.client.post(path, content=as_json(body), headers={**api.admin, "Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert r.json()["detail"][0]["loc"][0] == "body"


def test_limit_messages_name_the_turn_and_the_setting(api):
    r = api.send("/v1/interactions", chat(turns=LONG_TURN))
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "turns", 1, "text"]
    assert error["msg"] == "turns[1] has 5,001 characters; the limit is 5,000 (QA_MAX_TURN_CHARS)"
    r = api.send("/v1/interactions/bulk", {"interactions": [chat("in-good"), chat(turns=LONG_TURN)]})
    assert r.json()["detail"][0]["loc"] == ["body", "interactions", 1, "turns", 1, "text"]


def test_the_limits_are_the_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as session:
        _, key = accounts.create_api_key(session, accounts.create_user(session, "pipe", "ingest"), "k")
    settings = DbSettings(database_url=url, max_turns=3, max_turn_chars=10, max_text_chars=25, max_metadata_bytes=20)
    with TestClient(create_app(settings)) as client:
        def post(payload):
            return client.post("/v1/interactions", json=payload, headers={"X-API-Key": key})

        assert "4 turns; the limit is 3" in _message(post(chat(turns=[("agent", "好")] * 4)))
        assert "11 characters; the limit is 10" in _message(post(chat(turns=[("agent", "好" * 11)])))
        assert "30 characters of text; the limit is 25" in _message(post(chat(turns=[("agent", "好" * 10)] * 3)))
        one = [("agent", "您好")]
        assert "the limit is 20 (QA_MAX_METADATA_BYTES)" in _message(post(chat(turns=one, metadata={"k": "v" * 20})))
        assert post(chat(turns=[("agent", "您好，请问")] * 3, metadata={"k": "v"})).status_code == 201
    db.dispose()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("started_at", "0001-01-01T00:00:00+14:00", "started_at"),
        ("started_at", "9999-12-31T23:59:59-12:00", "started_at"),
        ("interaction_id", "up\x07load", "interaction_id"),
        ("agent_id", "A\u2066", "agent_id"),
        ("metadata", json.dumps({"blob": "x" * 20_000}), "QA_MAX_METADATA_BYTES"),
    ],
)
def test_audio_upload_form_is_checked_the_same_way(api, field, value, expected):
    data = {"interaction_id": "up-1", field: value}
    files = {"file": ("a.wav", b"RIFF not really audio", "audio/wav")}
    r = api.client.post("/v1/interactions/audio", data=data, files=files, headers=api.ingest)
    assert r.status_code == 422, r.text[:500]
    assert expected in _message(r)
    assert api.queued() == set()


def test_dates_inside_the_range_are_kept_as_sent(api):
    for iid, when in (("early", "1970-01-02T00:00:00+14:00"), ("late", "8999-12-30T23:59:59-12:00")):
        assert api.send("/v1/interactions", chat(iid, started_at=when)).status_code == 201
        got = api.client.get(f"/v1/interactions/{iid}", headers=api.admin).json()
        assert got["started_at"][:4] == when[:4]


# --- request body size ----------------------------------------------------------------------------


def test_body_over_the_limit_is_413_with_and_without_content_length(api):
    big = chat(metadata={"blob": "x" * (MB + 1000)})
    r = api.send("/v1/interactions", big)
    assert r.status_code == 413, r.text[:300]
    # chunked (no Content-Length): counted as it arrives
    body = as_json({"interactions": [big]})
    streamed = api.client.post(
        "/v1/interactions/bulk",
        content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        headers={**api.ingest, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text[:300]
    assert api.stored() == set() and api.queued() == set()
    # just under the limit is read (and refused for its metadata, not its size)
    r = api.send("/v1/interactions", chat(metadata={"blob": "x" * (MB - 2000)}))
    assert r.status_code == 422 and "QA_MAX_METADATA_BYTES" in _message(r)


def test_audio_uploads_keep_their_own_larger_limit(api):
    files = {"file": ("a.wav", os.urandom(int(1.5 * MB)), "audio/wav")}  # over the body limit, under the upload limit
    r = api.client.post("/v1/interactions/audio", data={"interaction_id": "up-big"}, files=files, headers=api.ingest)
    assert r.status_code == 202, r.text[:300]
    files = {"file": ("a.wav", os.urandom(int(2.5 * MB)), "audio/wav")}
    r = api.client.post("/v1/interactions/audio", data={"interaction_id": "up-bigger"}, files=files, headers=api.ingest)
    assert r.status_code == 413, r.text[:300]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real uvicorn with a 1 MB body limit, to see what a client sees on the wire."""
    tmp = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{tmp / 'qa.db'}"
    migrate.upgrade(url)
    port = _free_port()
    env = {**os.environ, "QA_DATABASE_URL": url, "QA_MAX_BODY_MB": "1", "QA_JWT_SECRET": "s" * 40, "QA_QUEUE_SCORER": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _status_line(sock: socket.socket) -> str:
    """The response's status line; nothing within 10 s is a failure (the server still waits for the body)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_server_answers_413_before_reading_the_body(server):
    """A declared 600 MB body is refused at once: the client has sent only its first bytes."""
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(
            b"POST /v1/interactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 600000000\r\n\r\n" + b'{"interaction_id": "' + b"x" * 4096
        )
        assert _status_line(sock).startswith("HTTP/1.1 413 ")


def test_server_stops_a_chunked_body_once_over_the_limit(server):
    """No Content-Length: the server counts what arrives and answers 413 once past the limit, while
    the body has not ended (its last chunk is never sent)."""
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"POST /v1/interactions/bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b"x" * 65536
        for _ in range(17):  # 1.06 MB: just over the limit
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert _status_line(sock).startswith("HTTP/1.1 413 ")


# --- ids with `/` -----------------------------------------------------------------------------------


def test_id_with_slash_is_readable_reviewable_and_playable(api):
    iid = "calls/2026-11/call_bad.stereo"
    shutil.copy(CALLS / "call_bad.stereo.wav", api.audio_dir / "call_bad.stereo.wav")
    payload = chat(iid, RED, audio_path=str(api.audio_dir / "call_bad.stereo.wav"))
    assert api.send("/v1/interactions", payload).status_code == 201
    for path in (quote(iid, safe=""), iid):  # as the web UI sends it (encodeURIComponent), and as written
        r = api.client.get(f"/v1/interactions/{path}", headers=api.admin)
        assert r.status_code == 200, r.text
        assert r.json()["interaction_id"] == iid
    encoded = quote(iid, safe="")
    hit = r.json()["result"]["hits"][0]
    review = {"hits": [{"hit_id": hit["id"], "decision": "confirm"}], "comment": "ok"}
    r = api.client.post(f"/v1/interactions/{encoded}/reviews", json=review, headers=api.admin)
    assert r.status_code == 201, r.text
    r = api.client.post(f"/v1/interactions/{encoded}/appeals", json={"reason": "转述客户的话"}, headers=api.admin)
    assert r.status_code == 201, r.text
    assert r.json()["interaction_id"] == iid
    link = api.client.get(f"/v1/interactions/{encoded}/audio-link", headers=api.admin)
    assert link.status_code == 200, link.text
    audio = api.client.get(link.json()["url"])
    assert audio.status_code == 200 and audio.content == (CALLS / "call_bad.stereo.wav").read_bytes()
    # the queue's job for an id with `/` is readable too, and bulk status still routes
    r = api.send("/v1/interactions/bulk", {"interactions": [chat("calls/x/queued-1")]})
    assert r.status_code == 202
    assert api.client.get(r.json()["status_url"], headers=api.ingest).json()["total"] == 1


@pytest.mark.parametrize(
    ("iid", "why"),
    [
        ("recordings/audio", "/audio"),
        ("calls/audio-link", "/audio-link"),
        ("calls/reviews", "/reviews"),  # POST {id}/reviews would review `calls`
        ("calls/appeals", "/appeals"),
        ("bulk/2026", "bulk/"),
        ("calls/../secret", "'..'"),
        (".", "'.'"),
    ],
)
def test_ids_the_routes_cannot_name_are_refused(api, iid, why):
    r = api.send("/v1/interactions", chat(iid))
    assert r.status_code == 422, r.text
    assert why in _message(r)


def test_ids_with_other_url_characters_are_readable(api):
    for iid in ("a?b#c", "50%/x y", "call:1+2", "客服/通话 01"):
        assert api.send("/v1/interactions", chat(iid)).status_code == 201
        r = api.client.get(f"/v1/interactions/{quote(iid, safe='')}", headers=api.admin)
        assert r.status_code == 200 and r.json()["interaction_id"] == iid


# --- qa-engine score --------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa_engine", *args], capture_output=True, timeout=timeout, cwd=REPO,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_score_fails_each_bad_record_with_its_line_and_goes_on(tmp_path):
    cases = list(BAD)
    records = [chat("ok-first")] + [BAD[c][0](chat(f"bad-{c}")) for c in cases] + [chat("ok-last")]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(as_json(r) for r in records) + b"\n")
    proc = _cli("score", str(src))
    assert proc.returncode == 1
    err = proc.stderr.decode("utf-8")
    assert "Traceback" not in err
    scored = [json.loads(line)["interaction_id"] for line in proc.stdout.decode().splitlines()]
    assert scored == ["ok-first", "ok-last"]
    by_line = {int(line.split("line ")[1].split(":")[0]): line for line in err.splitlines()}
    assert sorted(by_line) == list(range(2, 2 + len(cases)))
    for n, case in enumerate(cases, start=2):
        assert BAD[case][1] in by_line[n], (case, by_line[n])


def test_score_reads_the_limits_from_the_settings(tmp_path):
    src = tmp_path / "in.json"
    src.write_bytes(as_json(chat(turns=[("agent", "您好，很高兴为您服务")])))
    proc = _cli("score", str(src), env={"QA_MAX_TURN_CHARS": "5"})
    assert proc.returncode == 1
    assert "line 1: interaction in-1: turns[0] has 10 characters; the limit is 5 (QA_MAX_TURN_CHARS)" in proc.stderr.decode()


# --- qa-engine batch --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", backends())
def test_batch_fails_each_bad_item_and_goes_on(tmp_path, backend):
    source = tmp_path / "in"
    source.mkdir()
    records = [chat("ok-1")] + [BAD[c][0](chat(f"bad-{c}")) for c in BAD] + [chat("ok-2")]
    (source / "chats.jsonl").write_bytes(b"\n".join(as_json(r) for r in records) + b"\n")
    # recordings whose names make ids that are not printable: a newline, bytes that are not UTF-8
    for name in (b"line\nbreak.wav", b"not-utf8-\xff.wav"):
        (source / os.fsdecode(name)).write_bytes((CALLS / "call_bad.mono.wav").read_bytes())
    (tmp_path / "manifest").mkdir()
    manifest = tmp_path / "manifest" / "list.csv"
    shutil.copy(CALLS / "call_bad.mono.wav", tmp_path / "manifest" / "c.wav")
    manifest.write_text("path,interaction_id,started_at\nc.wav,m-1,0001-01-01T00:00:00+14:00\n", "utf-8")
    with fresh_database(backend, tmp_path) as url:
        proc = _cli("batch", str(source), "--database-url", url)
        proc2 = _cli("batch", str(manifest), "--database-url", url)
        db = Database(url)
        with db.session() as s:
            failed = {r.item_key: r.reason for r in s.scalars(select(BatchItemRow).where(BatchItemRow.status == "failed"))}
            stored = set(s.scalars(select(InteractionRow.id)))
        db.dispose()
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    report = json.loads(proc.stdout)
    assert (report["processed"], report["failed"]) == (2, len(BAD) + 2), report
    assert stored == {"ok-1", "ok-2"}
    reasons = [failed[f"chats.jsonl:{n}"] for n in range(2, 2 + len(BAD))]
    for case, reason in zip(BAD, reasons, strict=True):
        assert BAD[case][1] in reason, (case, reason)
    assert "interaction_id contains a control character (U+000A)" in failed["line\\nbreak"]
    assert "interaction_id has a lone surrogate (U+DCFF)" in failed["not-utf8-\\udcff"]
    assert proc2.returncode == 1 and "Traceback" not in proc2.stderr.decode(), proc2.stderr[-3000:]
    assert "started_at" in failed["m-1"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", backends())
def test_batch_stored_call_in_a_subfolder_is_reviewable_through_the_api(tmp_path, backend):
    source = tmp_path / "in"
    (source / "calls").mkdir(parents=True)
    shutil.copy(CALLS / "call_bad.stereo.wav", source / "calls" / "call_bad.stereo.wav")
    with fresh_database(backend, tmp_path) as url:
        proc = _cli("batch", str(source), "--database-url", url)
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        db = Database(url)
        with db.session() as session:
            accounts.create_user(session, "admin", "admin", password=PASSWORD)
        db.dispose()
        settings = DbSettings(database_url=url, audio_dir=source, queue_scorer=False)
        with TestClient(create_app(settings)) as client:
            admin = bearer(client, "admin", PASSWORD)
            encoded = quote("calls/call_bad.stereo", safe="")
            r = client.get(f"/v1/interactions/{encoded}", headers=admin)
            assert r.status_code == 200, r.text
            detail = r.json()
            assert detail["interaction_id"] == "calls/call_bad.stereo" and detail["turns"]
            review = {"overrides": [{"dimension": "politeness", "score": 50, "reason": "复核"}]}
            assert client.post(f"/v1/interactions/{encoded}/reviews", json=review, headers=admin).status_code == 201
            link = client.get(f"/v1/interactions/{encoded}/audio-link", headers=admin)
            assert link.status_code == 200, link.text
            assert client.get(link.json()["url"]).status_code == 200
