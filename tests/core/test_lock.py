"""One run per output folder (issue 18 item 10): a lock with pid and host refuses a second run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from refinedweb.config import UserError
from refinedweb.core.output import LOCK_FILE, output_lock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with output_lock(tmp_path, print):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder == {"pid": os.getpid(), "host": socket.gethostname()}
        with pytest.raises(UserError, match=f"another run is writing this output \\(pid {os.getpid()} on"):
            with output_lock(tmp_path, print):
                pass
    assert not (tmp_path / LOCK_FILE).exists()  # released


def test_a_stale_lock_of_a_dead_pid_on_this_host_is_taken_over_with_a_message(tmp_path):
    pid = _dead_pid()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    messages = []
    with output_lock(tmp_path, messages.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert messages == [f"{tmp_path}: taking over the lock of pid {pid}, which is no longer running"]


def test_a_lock_from_another_host_is_never_guessed_stale(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": "some-other-node"}))
    with pytest.raises(UserError, match="on some-other-node"):
        with output_lock(tmp_path, print):
            pass
    assert (tmp_path / LOCK_FILE).exists()  # still the other host's


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with output_lock(tmp_path, print):
            raise RuntimeError("a stage bug")
    assert not (tmp_path / LOCK_FILE).exists()
