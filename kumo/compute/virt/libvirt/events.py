"""Guest lifecycle events from libvirt (a guest started, stopped, crashed, was paused or resumed).

libvirt delivers domain events only to a process that registered an event
implementation before opening its connection, and runs that implementation's loop.
:func:`start_event_loop` registers libvirt's default implementation once per process
and runs its loop in a daemon thread; :func:`watch` registers a lifecycle callback on a
connection. Callbacks run in that thread: they must only hand the news over (e.g.
``loop.call_soon_threadsafe``). The compute agent uses them to run its power-state
sync at once instead of at the next interval (nova's libvirt lifecycle events).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run(libvirt) -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:  # keep serving events; a failure here must not end the thread
            log.exception("libvirt event loop iteration failed")


def start_event_loop(libvirt) -> bool:
    """Register libvirt's default event implementation and start its loop thread (once per
    process; later calls return at once). False when the binding cannot do it."""
    global _thread
    with _lock:
        if _thread is not None:
            return True
        try:
            libvirt.virEventRegisterDefaultImpl()
        except Exception as e:
            log.warning("libvirt events unavailable: %s", e)
            return False
        _thread = threading.Thread(target=_run, args=(libvirt,), name="libvirt-events", daemon=True)
        _thread.start()
        return True


def watch(libvirt, conn, callback: Callable[[str], None]) -> bool:
    """Call ``callback(domain uuid)`` from the event thread on every lifecycle event of
    ``conn``'s domains; False when the connection refuses the registration."""

    def on_event(_conn, dom, _event, _detail, _opaque) -> None:
        try:
            callback(dom.UUIDString())
        except Exception:
            log.exception("lifecycle event callback failed")

    try:
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
    except Exception as e:
        log.warning("libvirt lifecycle events not registered: %s", e)
        return False
    return True
