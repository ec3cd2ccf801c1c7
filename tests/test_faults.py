"""Nothing acknowledged is lost or doubled when the server is killed with
SIGKILL mid-conversation (scripts/fault_run.py; its long run is documented in
docs/security.md)."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys

from chatbot.settings import REPO_ROOT

spec = importlib.util.spec_from_file_location("fault_run", REPO_ROOT / "scripts" / "fault_run.py")
fault_run = importlib.util.module_from_spec(spec)
sys.modules["fault_run"] = fault_run  # dataclasses look their module up there
spec.loader.exec_module(fault_run)


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path):
    totals = await fault_run.run(cycles=4, seed=7, workdir=tmp_path)
    assert totals["problems"] == []
    assert totals["cycles"] == 4 and totals["acked"] > 40
    assert totals["acked_by"]["dana@cltiktok.example"] > 0  # the agent chatted too
    assert totals["retried"] > 0  # some sends were cut off and retried

    # The check itself notices a lost message and a gap.
    broken = tmp_path / "broken.db"
    conn = sqlite3.connect(broken)
    source = sqlite3.connect(tmp_path / "chat.db")
    source.backup(conn)
    source.close()
    conn.execute("DELETE FROM messages WHERE id = (SELECT min(id) FROM messages WHERE sender_type = 'customer')")
    conn.commit()
    conn.close()
    parties = []
    assert fault_run.check(broken, parties)  # the gap in seqs
