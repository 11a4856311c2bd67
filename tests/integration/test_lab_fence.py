"""Fencing reaches the board: a lab job's command on a real sshd device runs while its lease is renewed and
is stopped on the device when the renewals stop or the lease passes on — with nothing from the host."""

import threading
import time

import pytest

from edgeq.transport.fence import STOPPED, FencedTransport

pytestmark = pytest.mark.slow

TTL_S = 14.0  # the watchdog then allows 9 s without a renewal; renewals come every second


def _alive(transport, seconds: int) -> bool:
    """Whether ``sleep SECONDS`` still runs on the device (the bracket keeps pgrep from finding its own caller)."""
    return transport.run(["pgrep", "-f", f"slee[p] {seconds}"], check=False).ok


def test_a_command_runs_on_while_its_lease_is_renewed(ssh_transport):
    transport, root = ssh_transport
    fenced = FencedTransport(transport, "board-1", root, TTL_S)
    fenced.renewed(7)
    stop = threading.Event()
    beat = threading.Thread(target=lambda: [fenced.renewed(7) for _ in iter(lambda: stop.wait(1.0), True)])
    beat.start()
    try:
        result = fenced.run(["sleep", "4"], timeout_s=60)
    finally:
        stop.set()
        beat.join()
    assert result.ok and result.argv == ("sleep", "4")


def test_a_command_whose_lease_is_no_longer_renewed_is_stopped_on_the_device(ssh_transport):
    transport, root = ssh_transport
    fenced = FencedTransport(transport, "board-2", root, TTL_S)
    fenced.renewed(8)  # and never again: the worker froze
    started = time.monotonic()
    result = fenced.run(["sleep", "300"], timeout_s=120, check=False)
    assert result.returncode != 0 and f"{STOPPED}: the device lease was not renewed for 9 s" in result.stderr
    assert time.monotonic() - started < TTL_S + 10  # well before the 300 s the command asked for
    assert not _alive(transport, 300)


def test_a_command_stops_at_once_when_the_lease_passes_to_another_holder(ssh_transport):
    transport, root = ssh_transport
    fenced = FencedTransport(transport, "board-3", root, TTL_S)
    fenced.renewed(9)
    other = FencedTransport(transport, "board-3", root, TTL_S)
    threading.Timer(2.0, other.renewed, args=(10,)).start()  # the new holder announces its token
    result = fenced.run(["sleep", "301"], timeout_s=120, check=False)
    assert f"{STOPPED}: the device lease passed from token 9 to 10" in result.stderr
    assert not _alive(transport, 301)
