"""A process's news to its parent never blocks its event loop: with nobody
reading, posting still returns at once, the oldest news is dropped past a
bound, and what is left arrives in order once the parent reads."""

from __future__ import annotations

import multiprocessing
import time

from fleetsim.engine.mailbox import MAX_QUEUED, Mailbox


def test_posting_never_waits_for_a_reader_and_the_newest_news_arrives_in_order() -> None:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    mailbox = Mailbox(sender, "test news")
    message = b"x" * 8000  # eight of them fill a 64 KiB pipe
    started = time.perf_counter()
    for n in range(500):
        mailbox.post(n.to_bytes(4, "big") + message)
    posting_s = time.perf_counter() - started
    assert posting_s < 1.0  # without the thread, the 9th post would block forever
    mailbox.close(b"last", timeout_s=0.0)
    got = []
    while True:
        data = receiver.recv_bytes()
        if data == b"last":
            break
        got.append(int.from_bytes(data[:4], "big"))
    assert got == sorted(got) and got[-1] == 499
    assert mailbox.dropped >= 500 - len(got) - MAX_QUEUED  # the rest waited in the pipe or were dropped, oldest first
    assert len(got) < 500


def test_a_reader_that_went_away_ends_the_delivery_quietly() -> None:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    receiver.close()
    mailbox = Mailbox(sender, "test news")
    mailbox.post(b"news")
    mailbox.close(b"last", timeout_s=5.0)
    assert not mailbox._thread.is_alive()
