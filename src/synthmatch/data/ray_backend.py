"""Run dataset tasks on a Ray cluster behind the standard :class:`concurrent.futures.Executor` API.

``RayExecutor("local")`` starts a Ray instance on this machine; any other address (``"auto"``,
``"ray://head:10001"``, ``"10.0.0.5:6379"``) connects to a running cluster. Each task asks for one
CPU; Ray schedules them across the nodes and hands results back as futures, so the build loop is
the same as with the local process pool. Every node needs synthmatch, vita and the shared data
(training presets, wavetables) at the same paths — or pass them through ``runtime_env``.

A search sends the same large arguments with every task: the base preset's JSON (up to a few
MB) and the objective (:class:`synthmatch.render.pool.Measure`, which holds the target audio).
The executor puts each such argument into Ray's object store once and passes the reference, so
the driver serialises it once per search instead of once per render.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from synthmatch.errors import MissingExtraError


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray", "building datasets on a Ray cluster (--ray-address)") from exc
    return ray


#: A task argument at least this large (a ``str``, ``bytes`` or a ``Measure``'s blob) is put into
#: the object store once and passed by reference; Ray inlines arguments below 100 KB anyway.
SHARE_MIN_BYTES = 64 * 1024

#: Shared arguments kept referenced at once (least recently used dropped first): a few searches
#: sharing the cluster, each with one base preset and one objective in use.
MAX_SHARED = 16


def _share_size(arg: Any) -> int:
    if isinstance(arg, (str, bytes, bytearray)):
        return len(arg)
    blob = getattr(arg, "blob", None)  # synthmatch.render.pool.Measure
    return len(blob) if isinstance(blob, bytes) else 0


class RayExecutor(Executor):
    """An executor whose tasks run as Ray remote functions (one CPU each).

    Parameters
    ----------
    address : str
        ``"local"`` starts a local instance (with ``num_cpus`` CPUs); anything else is passed to
        ``ray.init(address=...)``.
    num_cpus : int, optional
        CPUs of a local instance (default: all).
    init_kwargs : dict, optional
        Extra ``ray.init`` arguments (e.g. ``runtime_env``).

    Attributes
    ----------
    shared_puts : int
        How many large arguments were put into the object store (see the module docstring).
    """

    def __init__(
        self,
        address: str = "local",
        *,
        num_cpus: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                **(init_kwargs or {}),
            }
            # Ray sets OMP_NUM_THREADS=1 in the workers of 1-CPU tasks, so BLAS threads do not fight
            # the renders; a runtime_env only for env vars would slow worker start-up by seconds.
            if address == "local":
                ray.init(num_cpus=num_cpus, **kwargs)
            else:
                ray.init(address=address, **kwargs)
            self._owns = True
        self._remotes: dict[Callable[..., Any], Any] = {}
        # id(arg) -> (arg, ObjectRef). Holding the argument keeps its id from being reused while
        # the entry lives, so an identity check is a safe and O(1) key.
        self._shared: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._shared_lock = threading.Lock()
        self.shared_puts = 0

    @property
    def cpus(self) -> int:
        """CPUs the cluster offers (sizes the number of tasks kept in flight)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._ray.remote(num_cpus=1, max_retries=2)(fn)
            self._remotes[fn] = remote
        return remote.remote(*(self._by_reference(a) for a in args), **kwargs).future()

    def _by_reference(self, arg: Any) -> Any:
        """``arg``, or an object-store reference to it when it is large (Ray resolves a top-level
        reference to its value before the task runs)."""
        if _share_size(arg) < SHARE_MIN_BYTES:
            return arg
        with self._shared_lock:
            entry = self._shared.get(id(arg))
            if entry is not None and entry[0] is arg:
                self._shared.move_to_end(id(arg))
                return entry[1]
            ref = self._ray.put(arg)
            self.shared_puts += 1
            self._shared[id(arg)] = (arg, ref)
            while len(self._shared) > MAX_SHARED:
                self._shared.popitem(last=False)  # tasks in flight keep their own reference
            return ref

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._shared_lock:
            self._shared.clear()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
