"""Personal data (security issue 13, point 4) through the real app on SQLite and PostgreSQL: nothing
of a phone, ID, card or e-mail value is stored in clear (turns, metadata, unknown fields, queued
job payloads), returned, or logged; a finished job keeps no payload."""

from __future__ import annotations

import io
import json
import logging
import re
import time

from sqlalchemy import select
from test_api_queue import Env, chat, clean, env, wait_bulk, wait_idle, wait_job  # noqa: F401 - fixtures used by name

from qa_engine.batch.runner import BatchConfig, run_batch
from qa_engine.config import Settings
from qa_engine.store.models import IngestJob, InteractionRow

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
EMAIL = "zhang.san@example.com"
CARD = "6222 0212 3456 7890 123"  # fails the Luhn check: a card only because 卡号 comes before it
CARD_LUHN = "4111111111111111"
ORDER = "2026112212345678"  # fails the Luhn check, no card word: an order number, kept
SECRETS = (PHONE, ID_CARD, EMAIL, CARD, CARD_LUHN)

PII_TURNS = (
    ("agent", "您好，很高兴为您服务"),
    ("customer", f"我的手机{PHONE}，身份证{ID_CARD}，邮箱{EMAIL}，卡号是{CARD}，订单号{ORDER}"),
    ("agent", "好的，已为您登记，请问还有其他可以帮您的吗？再见"),
)


def pii_metadata() -> dict:
    return {
        "source": "crm",
        "customer": {"phone": PHONE, "cards": [f"卡号是{CARD}", CARD_LUHN], "vip": True, "orders": 3},
        "caller": int(PHONE),
        "contact": EMAIL,
    }


def pii_chat(interaction_id: str) -> dict:
    return chat(interaction_id, PII_TURNS, metadata=pii_metadata(), note=f"客户身份证{ID_CARD}")


def assert_no_pii(text: str, where: str) -> None:
    digits = re.sub(r"[\s-]", "", text)
    for secret in SECRETS:
        assert secret not in text and re.sub(r"[\s-]", "", secret) not in digits, f"{secret} in {where}"


def stored(env: Env, interaction_id: str) -> dict:
    """The interaction's row (metadata, unknown fields, turns) as read from the database."""
    with env.db.session() as session:
        row = session.get(InteractionRow, interaction_id)
        return {"metadata": row.meta, "extra": row.extra, "turns": [t.text for t in row.turns]}


def assert_stored_redacted(env: Env, interaction_id: str) -> None:
    row = stored(env, interaction_id)
    assert_no_pii(json.dumps(row, ensure_ascii=False), f"the row of {interaction_id}")
    meta = row["metadata"]
    assert meta["source"] == "crm" and meta["customer"]["vip"] is True and meta["customer"]["orders"] == 3
    assert meta["customer"]["phone"] == meta["caller"] == "[手机号]" and meta["contact"] == "[邮箱]"
    assert meta["customer"]["cards"] == ["卡号是[银行卡号]", "[银行卡号]"]
    assert row["extra"] == {"note": "客户身份证[身份证号]"}
    assert row["turns"][1] == f"我的手机[手机号]，身份证[身份证号]，邮箱[邮箱]，卡号是[银行卡号]，订单号{ORDER}"
    detail = env.get(f"/v1/interactions/{interaction_id}", "admin")
    assert detail.status_code == 200
    assert_no_pii(detail.text, f"GET /v1/interactions/{interaction_id}")
    assert detail.json()["metadata"] == meta


def jobs_of(env: Env, *interaction_ids: str) -> dict[str, IngestJob]:
    with env.db.session() as session:
        rows = session.scalars(select(IngestJob).where(IngestJob.interaction_id.in_(interaction_ids)))
        return {job.interaction_id: job for job in rows}


def test_pii_in_turns_metadata_and_unknown_fields_is_stored_and_returned_redacted(env):
    r = env.post("/v1/interactions", "ingest", json=pii_chat("pii-inline"))
    assert r.status_code == 201, r.text
    assert_no_pii(r.text, "the ingest answer")
    queued = env.post("/v1/interactions?wait=false", "ingest", json=pii_chat("pii-queued"))
    assert queued.status_code == 202, queued.text
    bulk = env.post("/v1/interactions/bulk", "ingest", json={"interactions": [pii_chat("pii-bulk")]})
    assert bulk.status_code == 202, bulk.text
    assert wait_job(env, queued.json()["job_id"])["status"] == "done"
    assert wait_bulk(env, bulk.json()["batch_id"])["done"] == 1
    for iid in ("pii-inline", "pii-queued", "pii-bulk"):
        assert_stored_redacted(env, iid)
    # the same scores whichever way in (the queue stores the redacted payload, redacted again: no-op)
    scores = {iid: env.get(f"/v1/interactions/{iid}", "admin").json()["result"] for iid in ("pii-inline", "pii-queued", "pii-bulk")}
    assert len({(s["score"], s["flag"], json.dumps([h["rule_id"] for h in s["hits"]])) for s in scores.values()}) == 1
    counts = {env.get(f"/v1/interactions/{iid}", "admin").json()["metadata"]["redacted"]["mobile"] for iid in scores}
    assert counts == {3}  # the turn's phone and the metadata's two


def test_job_payloads_are_stored_redacted_and_emptied_once_done_or_failed(env):
    env.post("/v1/interactions", "ingest", json=pii_chat("pj-stored"))  # stored inline before
    env.app.state.queue.shutdown()  # the jobs stay queued while their payload is read
    try:
        one = env.post("/v1/interactions?wait=false", "ingest", json=pii_chat("pj-one"))
        assert one.status_code == 202, one.text
        audio_only = {"interaction_id": "pj-bad", "channel": "call", "agent_id": "A1", "audio_path": "nowhere/x.wav",
                      "metadata": pii_metadata(), "note": f"客户身份证{ID_CARD}"}  # fmt: skip
        bulk = env.post(
            "/v1/interactions/bulk", "ingest", json={"interactions": [pii_chat("pj-bulk"), audio_only, pii_chat("pj-stored")]}
        )
        assert bulk.status_code == 202, bulk.text
        jobs = jobs_of(env, "pj-one", "pj-bulk", "pj-bad", "pj-stored")
        assert {iid: job.status for iid, job in jobs.items()} == {
            "pj-one": "queued", "pj-bulk": "queued", "pj-bad": "queued", "pj-stored": "done"
        }  # fmt: skip
        for iid in ("pj-one", "pj-bulk", "pj-bad"):
            fields = jobs[iid].fields
            assert fields["interaction_id"] == iid and fields["metadata"]["source"] == "crm"
            assert_no_pii(json.dumps(fields, ensure_ascii=False), f"the queued payload of {iid}")
        assert jobs["pj-stored"].fields == {}  # a duplicate of the stored result: done at once, no payload
    finally:
        env.app.state.queue.start()
    env.app.state.queue.notify()
    wait_idle(env)
    jobs = jobs_of(env, "pj-one", "pj-bulk", "pj-bad")
    assert {iid: job.status for iid, job in jobs.items()} == {"pj-one": "done", "pj-bulk": "done", "pj-bad": "failed"}
    assert {iid: job.fields for iid, job in jobs.items()} == {"pj-one": {}, "pj-bulk": {}, "pj-bad": {}}
    assert "audio" in jobs["pj-bad"].error
    for iid in ("pj-one", "pj-bulk"):
        assert_stored_redacted(env, iid)


def _wait_audio(env: Env, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = env.get(f"/v1/jobs/{job_id}", "ingest").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_an_audio_job_stores_its_metadata_redacted_and_keeps_nothing_once_failed(env):
    files = {"file": ("call.wav", b"this is not audio at all", "audio/wav")}
    data = {"interaction_id": "pa-1", "agent_id": "A1", "metadata": json.dumps(pii_metadata(), ensure_ascii=False)}
    r = env.post("/v1/interactions/audio", "ingest", data=data, files=files)
    assert r.status_code == 202, r.text
    with env.db.session() as session:  # queued, running or failed already: never the values in clear
        assert_no_pii(json.dumps(session.get(IngestJob, r.json()["job_id"]).fields, ensure_ascii=False), "the audio job")
    job = _wait_audio(env, r.json()["job_id"])
    assert job["status"] == "failed"
    with env.db.session() as session:
        assert session.get(IngestJob, job["job_id"]).fields == {}


def test_logs_carry_no_pii(env, caplog, tmp_path):
    """Everything logged while interactions with PII in turns, metadata and unknown fields are ingested
    (inline, queued, bulk), fail (a queued one, an audio upload, a batch item) or are batch-scored,
    every logger at DEBUG (SQLAlchemy then logs every statement with its parameters and rows)."""
    for name in ["", *logging.root.manager.loggerDict]:  # restored after the test
        caplog.set_level(logging.DEBUG, logger=name)
    assert env.post("/v1/interactions", "ingest", json=pii_chat("pl-inline")).status_code == 201
    queued = env.post("/v1/interactions?wait=false", "ingest", json=pii_chat("pl-queued")).json()
    audio_only = {"interaction_id": "pl-bad", "channel": "call", "agent_id": "A1", "audio_path": "nowhere/x.wav",
                  "metadata": pii_metadata(), "note": f"客户身份证{ID_CARD}"}  # fmt: skip
    bulk = env.post("/v1/interactions/bulk", "ingest", json={"interactions": [pii_chat("pl-bulk"), audio_only]}).json()
    files = {"file": ("call.wav", b"this is not audio at all", "audio/wav")}
    upload = env.post("/v1/interactions/audio", "ingest", files=files,
                      data={"interaction_id": "pl-audio", "metadata": json.dumps(pii_metadata())})  # fmt: skip
    assert wait_job(env, queued["job_id"])["status"] == "done"
    assert wait_bulk(env, bulk["batch_id"])["failed"] == 1
    assert _wait_audio(env, upload.json()["job_id"])["status"] == "failed"
    source = tmp_path / "chats.jsonl"
    bad_role = {**pii_chat("pl-batch-bad"), "turns": [{"role": "bot", "text": f"手机{PHONE}"}]}
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in (pii_chat("pl-batch"), bad_role)), "utf-8")
    progress = io.StringIO()
    report = run_batch(BatchConfig(source=source, database_url=env.db.url, migrate=False), Settings(), progress_stream=progress, tty=False)
    assert (report.processed, report.failed) == (1, 1)
    assert_stored_redacted(env, "pl-batch")

    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)  # statements were logged
    assert any("pl-bad" in r.getMessage() for r in caplog.records)  # and the failures
    assert_no_pii(caplog.text, "the log")
    assert_no_pii(progress.getvalue(), "the batch progress")
