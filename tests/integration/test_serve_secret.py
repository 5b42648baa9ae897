"""`loyalty-agent serve` shows a generated POS webhook secret once, on a terminal, and never logs it."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import POS_WEBHOOK_SECRET_FILE
from tests.integration.conftest import free_port

READY = b"Uvicorn running"


def serve_once(data_dir: Path, *, terminal: bool, secret: str | None = None, timeout: float = 90) -> str:
    """Start `serve` (no workers, no indexing), wait until it listens, stop it; everything it wrote."""
    env = {k: v for k, v in os.environ.items() if k not in ("POS_WEBHOOK_SECRET", "DATABASE_URL")}
    env.update(DATA_DIR=str(data_dir), INDEX_ON_START="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if secret is not None:
        env["POS_WEBHOOK_SECRET"] = secret
    cmd = [sys.executable, "-m", "loyalty_agent", "serve", "--port", str(free_port()), "--workers", "0"]
    if terminal:
        parent, child = pty.openpty()
        proc = subprocess.Popen(cmd, stdin=child, stdout=child, stderr=child, env=env, cwd=data_dir.parent)
        os.close(child)
    else:
        parent, child = os.pipe()
        proc = subprocess.Popen(cmd, stdout=child, stderr=child, env=env, cwd=data_dir.parent)
        os.close(child)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while READY not in out and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([parent], [], [], 0.5)
            if ready:
                try:
                    out += os.read(parent, 65536)
                except OSError:  # pty closed
                    break
        assert READY in out, out.decode(errors="replace")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(parent)
    return out.decode(errors="replace")


def test_generated_secret_is_shown_once_on_a_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = serve_once(data_dir, terminal=True)
    secret = (data_dir / POS_WEBHOOK_SECRET_FILE).read_text()
    assert first.count(secret) == 1, first
    assert "shown this once" in first
    # The lines logging writes (timestamp, level, logger) never carry it.
    assert not any(secret in line for line in first.splitlines() if " INFO " in line or "INFO:" in line)
    again = serve_once(data_dir, terminal=True)
    assert secret not in again and "webhook secret" not in again.lower(), again


def test_secret_is_not_printed_to_non_terminal_output(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    out = serve_once(data_dir, terminal=False)
    secret = (data_dir / POS_WEBHOOK_SECRET_FILE).read_text()
    assert secret not in out
    assert str(data_dir / POS_WEBHOOK_SECRET_FILE) in out  # where to find it instead


def test_secret_from_the_environment_is_never_printed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    out = serve_once(data_dir, terminal=True, secret="whsec_from_the_environment")
    assert "whsec_from_the_environment" not in out and "webhook secret" not in out.lower(), out
    assert not (data_dir / POS_WEBHOOK_SECRET_FILE).exists()
