"""Ctrl-C around work that must not be cut in half (``impl.interrupts``), signal by signal."""

from __future__ import annotations

import os
import signal

import pytest

from descentcheck.impl.interrupts import deferred_interrupts, interrupt_once


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_deferred_ctrl_c_lets_the_block_finish_then_interrupts():
    done = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            _ctrl_c()
            _ctrl_c()
            done.append("the whole block")
    assert done == ["the whole block"]
    assert signal.getsignal(signal.SIGINT) is before


def test_only_the_first_ctrl_c_interrupts_and_the_cleanup_runs_to_its_end():
    cleaned = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with interrupt_once():
            try:
                _ctrl_c()
                pytest.fail("the first Ctrl-C did not interrupt")
            finally:
                _ctrl_c()  # pressed again during the cleanup: ignored
                cleaned.append("all of it")
    assert cleaned == ["all of it"]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_block_without_signals_changes_nothing():
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts(), interrupt_once():
        pass
    assert signal.getsignal(signal.SIGINT) is before
