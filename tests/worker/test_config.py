"""Settings validation: names that would make the worker read its own output, bad numbers."""

from __future__ import annotations

import pytest

from worker.config import Config


def test_defaults_are_the_engine_stream_names():
    c = Config()
    assert (c.response_stream, c.events_stream, c.commands_stream) == (
        "engine_response",
        "engine_events",
        "backend-to-engine",
    )
    assert c.dead_letter_stream == "worker-dead-letter" and c.group == "worker"
    assert c.consumer  # unique per process


def test_consumer_names_differ_between_processes_by_pid():
    import os

    assert str(os.getpid()) in Config().consumer


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group": ""},
        {"consumer": ""},
        {"events_stream": "engine_response"},
        {"dead_letter_stream": "engine_events"},
        {"batch_size": 0},
        {"batch_size": 100_001},
        {"block_ms": -1},
        {"claim_idle_ms": -5},
        {"retry_initial_s": 0},
        {"retry_initial_s": 10, "retry_max_s": 1},
        {"claim_interval_s": 0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Config(**kwargs)
