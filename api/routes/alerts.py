"""Alert webhooks (admin): a JSON POST, signed with a shared secret and retried, when a result with a
critical hit or a red flag is stored, per team (qa_engine/store/alerts.py sends them)."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Admin, SessionDep
from api.openapi import errors
from api.schemas import MAX_ID, AlertDeliveryOut, AlertWebhookCreated, AlertWebhookIn, AlertWebhookOut
from qa_engine.store.models import AlertDelivery, AlertWebhook, Team
from qa_engine.store.repository import audit

router = APIRouter(prefix="/v1", tags=["alerts"])
NO_WEBHOOK = {404: "no alert webhook with this id"}
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _webhook(session: Session, webhook_id: int) -> AlertWebhook:
    hook = session.get(AlertWebhook, webhook_id)
    if hook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert webhook {webhook_id}")
    return hook


def _out(hook: AlertWebhook) -> AlertWebhookOut:
    return AlertWebhookOut(
        id=hook.id, name=hook.name, url=hook.url, team_id=hook.team_id, events=hook.events, active=hook.active,
        created_at=hook.created_at,
    )  # fmt: skip


@router.post(
    "/alert-webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=AlertWebhookCreated,
    summary="Add an alert webhook (its secret is shown once)",
)
def create_webhook(body: AlertWebhookIn, session: SessionDep, principal: Admin) -> AlertWebhookCreated:
    if body.team_id is not None and session.get(Team, body.team_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no team {body.team_id!r}")
    events = [event for event in ("critical_hit", "red_result") if event in body.events]
    hook = AlertWebhook(
        name=body.name,
        url=body.url,
        team_id=body.team_id,
        events=events,
        secret=body.secret or secrets.token_urlsafe(32),
        created_by=principal.username,
    )
    session.add(hook)
    session.flush()
    audit(session, principal.username, "alert_webhook.create", "alert_webhook", hook.id, url=hook.url,
          team_id=hook.team_id)  # fmt: skip
    session.commit()
    return AlertWebhookCreated(**_out(hook).model_dump(), secret=hook.secret)


@router.get("/alert-webhooks", response_model=list[AlertWebhookOut], summary="Alert webhooks")
def list_webhooks(session: SessionDep, principal: Admin) -> list[AlertWebhookOut]:
    return [_out(hook) for hook in session.scalars(select(AlertWebhook).order_by(AlertWebhook.id))]


@router.delete(
    "/alert-webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(NO_WEBHOOK),
    summary="Remove an alert webhook (its pending deliveries are dropped)",
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, principal: Admin) -> Response:
    hook = _webhook(session, webhook_id)
    audit(session, principal.username, "alert_webhook.delete", "alert_webhook", hook.id, url=hook.url)
    session.delete(hook)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/alert-webhooks/{webhook_id}/deliveries",
    response_model=list[AlertDeliveryOut],
    responses=errors(NO_WEBHOOK),
    summary="A webhook's deliveries, newest first",
)
def list_webhook_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    principal: Admin,
    delivery_status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AlertDeliveryOut]:
    _webhook(session, webhook_id)
    stmt = select(AlertDelivery).where(AlertDelivery.webhook_id == webhook_id)
    if delivery_status is not None:
        stmt = stmt.where(AlertDelivery.status == delivery_status)
    rows = session.scalars(stmt.order_by(AlertDelivery.id.desc()).limit(limit))
    return [
        AlertDeliveryOut(
            id=d.id,
            interaction_id=d.interaction_id,
            events=d.events,
            status=d.status,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )  # fmt: skip
        for d in rows
    ]
