"""Prometheus metrics, one registry per app (so several apps in one process do not collide)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("qa_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("qa_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry)
        self.ingested = Counter(
            "qa_interactions_ingested", "Interactions received, by outcome", ["outcome"], registry=self.registry
        )
        self.flags = Counter("qa_results", "Scoring runs stored, by flag", ["flag"], registry=self.registry)
        self.inspect_seconds = Histogram(
            "qa_inspect_seconds", "Preparation and inspection time per interaction", registry=self.registry
        )
        self.reviews = Counter("qa_reviews", "Reviews recorded", registry=self.registry)
        self.appeals = Counter("qa_appeals", "Appeals filed and decided", ["event"], registry=self.registry)

    async def middleware(self, request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            self.requests.labels(request.method, route, str(status)).inc()
            self.latency.labels(request.method, route).observe(time.perf_counter() - start)
