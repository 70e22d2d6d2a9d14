"""The delivery loop: outbox events become deliveries, sent, retried, logged, paused.

Each long-lived process (``jobport serve``, a Celery worker's main process, the
parent of a local pool while it runs) runs one :class:`Deliverer` thread, which
the supervisor starts on its first sweep (:mod:`jobport.recovery`). Its loop:

1. fan out: the outbox's new events become deliveries (one process at a time);
2. claim the deliveries due now, each the first one pending of its run for its
   subscription, with a lease in the state database, so that one process at a
   time sends it and a run's messages reach a receiver in ``seq`` order;
3. send each (at most ``webhooks_concurrency`` at once) and record the attempt:
   done on a 2xx answer; otherwise tried again on the schedule of
   :mod:`jobport.webhooks.policy`, given up after its last attempt, and the
   subscription paused once every attempt failed for
   ``webhooks_pause_after_hours``.

A process that dies while sending leaves a lease that runs out; another
process sends the message again: at least once, never lost. With no
subscription the loop only asks, once per ``webhooks_poll_seconds``, whether
there is one.

The clock is a parameter, so tests drive the schedule (hours of retries)
without waiting; :meth:`Deliverer.run_once` does one pass in the caller's
thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jobport import metrics
from jobport.dispatch import dispatcher_id
from jobport.store.section import utcnow
from jobport.store.webhooks import AttemptResult, DeliveryClaim, WebhookStore
from jobport.webhooks import policy
from jobport.webhooks.events import route

if TYPE_CHECKING:
    from jobport.settings import Settings
    from jobport.store import JobStore
    from jobport.webhooks.sender import Sender

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Events read per fan-out transaction, and transactions per pass at most.
FANOUT_BATCH = 500
FANOUT_ROUNDS = 20
#: The longest wait after the loop failed (the database away, tables not migrated).
MAX_ERROR_WAIT_SECONDS = 60.0


class Deliverer:
    """Sends the webhook deliveries of one state database, from one process."""

    def __init__(
        self,
        store: WebhookStore,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        sender: Sender | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.owner = owner or f"{dispatcher_id()}/webhooks"
        self._sender = sender
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, store: JobStore, settings: Settings, *, clock: Clock = utcnow) -> Deliverer:
        """The deliverer of the state database ``store`` is over."""
        return cls(WebhookStore(store.engine), settings, clock=clock)

    @property
    def lease_seconds(self) -> float:
        """How long a claim lasts: longer than any attempt (connect, write, read, margin)."""
        return 3 * self.settings.webhooks_timeout_seconds + 30.0

    def sender(self) -> Sender:
        """The HTTP side, built on first use (httpx loads only in a process that sends)."""
        with self._lock:
            if self._sender is None:
                from jobport.webhooks.sender import Sender

                self._sender = Sender(
                    timeout=self.settings.webhooks_timeout_seconds,
                    allow_private=self.settings.webhooks_allow_private,
                )
            return self._sender

    # -- one step at a time -----------------------------------------------------------------

    def fan_out(self) -> int:
        """Turn the outbox's new events into deliveries; returns how many were made."""
        made = 0
        for _ in range(FANOUT_ROUNDS):
            read, new = self.store.fan_out(route, now=self.clock(), batch=FANOUT_BATCH)
            made += new
            if read < FANOUT_BATCH:
                break
        return made

    def claim(self, limit: int) -> list[DeliveryClaim]:
        return self.store.claim_deliveries(
            self.owner, limit=limit, lease_seconds=self.lease_seconds, now=self.clock()
        )

    def deliver(self, claim: DeliveryClaim) -> AttemptResult:
        """Send a claimed delivery once and record how it went (retry, give up, pause)."""
        try:
            result = self.sender().send(claim)
        except Exception as exc:  # a bug here must not leave the delivery leased and silent
            log.exception("sending webhook delivery %s failed", claim.id)
            result = AttemptResult(None, None, None, f"internal error: {type(exc).__name__}")
        now = self.clock()
        retry_at = None if result.ok else policy.retry_at(claim.attempts + 1, now)
        recorded = self.store.record_attempt(claim, result, now=now, retry_at=retry_at)
        if not recorded.counted:
            log.info("webhook delivery %s was replayed or taken over meanwhile", claim.id)
            return result
        metrics.webhook_delivery(
            "delivered" if result.ok else "retrying" if retry_at is not None else "given_up"
        )
        if recorded.failing_since is not None:
            self._pause_if_failing(claim.subscription_id, recorded.failing_since, now, result)
        return result

    def _deliver_logged(self, claim: DeliveryClaim) -> None:
        try:
            self.deliver(claim)
        except Exception:  # the database went away: the lease runs out, it is sent again
            log.exception("recording webhook delivery %s failed", claim.id)

    def _pause_if_failing(
        self, subscription_id: str, since: datetime, now: datetime, result: AttemptResult
    ) -> None:
        after = timedelta(hours=self.settings.webhooks_pause_after_hours)
        reason = policy.pause_reason(since, now, after, outcome(result))
        if reason is not None and self.store.pause_subscription(subscription_id, reason, now=now):
            log.warning("webhook subscription %s: %s", subscription_id, reason)

    def run_once(self) -> int:
        """One pass in this thread: fan out, then send what is due, one after the other,
        until nothing is due now. Returns how many attempts were made."""
        self.fan_out()
        attempts = 0
        while claims := self.claim(max(self.settings.webhooks_concurrency, 1)):
            for claim in claims:
                self.deliver(claim)
            attempts += len(claims)
        return attempts

    # -- the thread -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def ensure_running(self) -> None:
        """Start the loop's thread unless it runs (or this process sends none)."""
        if self.settings.webhooks_concurrency <= 0:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="jobport-webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop; a message being sent finishes on its own (its lease covers it)
        within the timeout of its attempt, and the loop's thread closes the client then."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if thread is None:
            self._close_sender()

    def _close_sender(self) -> None:
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()

    def _loop(self) -> None:
        width = self.settings.webhooks_concurrency
        poll = self.settings.webhooks_poll_seconds
        pool = ThreadPoolExecutor(width, thread_name_prefix="jobport-webhook-send")
        sending: set[Future[None]] = set()
        errors = 0
        try:
            while not self._stop.is_set():
                claims: list[DeliveryClaim] = []
                try:
                    if sending or self.store.any_subscription():
                        self.fan_out()
                        if len(sending) < width:
                            claims = self.claim(width - len(sending))
                    errors = 0
                except Exception:
                    errors += 1
                    wait_for = min(poll * 2**errors, MAX_ERROR_WAIT_SECONDS)
                    log.exception("the webhook delivery loop failed; again in %.0f s", wait_for)
                    self._stop.wait(wait_for)
                    continue
                sending |= {pool.submit(self._deliver_logged, claim) for claim in claims}
                if sending:
                    _, sending = wait(sending, timeout=poll, return_when=FIRST_COMPLETED)
                elif not claims:
                    self._stop.wait(poll)
        finally:
            pool.shutdown(wait=True)
            self._close_sender()


def outcome(result: AttemptResult) -> str:
    """An attempt in a few words: "HTTP 500" or the error."""
    if result.error is not None:
        return result.error
    return f"HTTP {result.status_code}"


__all__ = ["Clock", "Deliverer", "outcome"]
