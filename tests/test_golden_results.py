"""The default engine's results on the 800 real JD sessions are those of tests/golden/jddc800.json.

Behaviour-preserving changes (refactors, speed-ups) keep this passing. A change meant to change
results (a retrained model, a rule edit) regenerates the file, one line from the repository root:

    PYTHONPATH=. .venv/bin/python -m tests.golden_results --update

and the diff of that file (one line per session) shows which sessions changed.
"""

from __future__ import annotations

import json

import pytest
from qa_datasets.jddc import chat_dev_path

from tests.golden_results import GOLDEN, score_sessions


@pytest.mark.skipif(not chat_dev_path().is_file(), reason=f"JD chat sessions not found at {chat_dev_path()} (set QA_SHARED_DIR)")
def test_results_on_the_800_jd_sessions_are_the_golden_ones():
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = score_sessions()
    changed = {sid: (golden["sessions"].get(sid), row) for sid, row in now["sessions"].items()
               if golden["sessions"].get(sid) != row}
    missing = sorted(set(golden["sessions"]) - set(now["sessions"]))
    assert not missing, f"sessions no longer scored: {missing[:5]}"
    assert not changed, (f"{len(changed)} of {len(now['sessions'])} sessions score differently "
                         f"(golden [score, flag, digest] -> now), e.g. {list(changed.items())[:5]}")
    assert now["totals"] == golden["totals"]
