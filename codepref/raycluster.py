"""Connecting to a Ray cluster: the one place that imports Ray and joins a cluster.

Shared by the ``ray`` executor (:mod:`codepref.execution.ray_executor`) and the Ray generator
(:mod:`codepref.generation.ray_generator`), below both layers. Importing this module imports
nothing of Ray; :func:`import_ray` does, with a clear error when the extra is missing.
"""

from __future__ import annotations

import socket

from codepref.errors import ClusterError, CodeprefError


def import_ray():
    """The ``ray`` module.

    Raises:
        ClusterError: Ray is not installed (the ``ray`` extra).
    """
    try:
        import ray
    except ImportError:
        raise ClusterError("running on a Ray cluster needs Ray; install the extra: pip install 'codepref[ray]'") from None
    return ray


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on a ``HOST:PORT`` or ``ray://HOST:PORT`` nobody listens on (``ray.init``
    would retry for minutes); ``auto`` is left to Ray, which answers at once.

    Raises:
        ClusterError: the address does not accept a TCP connection within ``timeout_s``.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None


def connect(address: str) -> bool:
    """Join the cluster at ``address`` unless this process already has; True if it joined
    here (the caller then calls ``ray.shutdown()`` when done).

    Raises:
        ClusterError: no Ray, or no cluster at ``address``.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    check_reachable(address)
    try:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    except Exception as e:  # ConnectionError, a bad address, a version mismatch ...
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    return True


def lost_errors() -> tuple[type[BaseException], ...]:
    """The Ray errors that mean an actor or its node is gone (its work must run elsewhere)."""
    from ray import exceptions as rex

    return (rex.RayActorError, rex.NodeDiedError, rex.WorkerCrashedError, rex.ObjectLostError)


def raise_codepref_cause(error: BaseException) -> None:
    """Re-raise the codepref error a remote call raised as itself (Ray wraps it in a
    ``RayTaskError``); return if it was something else, for the caller to re-raise."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, CodeprefError):
        raise cause from None
