"""Run dataset tasks on a Ray cluster behind the standard :class:`concurrent.futures.Executor` API.

``RayExecutor("local")`` starts a Ray instance on this machine; any other address (``"auto"``,
``"ray://head:10001"``, ``"10.0.0.5:6379"``) connects to a running cluster. Each task asks for one
CPU; Ray schedules them across the nodes and hands results back as futures, so the build loop is
the same as with the local process pool. Every node needs synthmatch, vita and the shared data
(training presets, wavetables) at the same paths — or pass them through ``runtime_env``.
"""

from __future__ import annotations

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

    @property
    def cpus(self) -> int:
        """CPUs the cluster offers (sizes the number of tasks kept in flight)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._ray.remote(num_cpus=1, max_retries=2)(fn)
            self._remotes[fn] = remote
        return remote.remote(*args, **kwargs).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
