"""Nightly batch scoring: `qa-engine batch SOURCE` with a local process pool or Celery workers.

Modules: `sources` (folder, chat file or manifest to items), `worker` (the task: one item scored
and stored, or recorded as failed), `runner` (planning, executors), `celery_app` (the Celery
executor and `qa-engine worker`), `report` (progress and final report), `cli`.
"""
