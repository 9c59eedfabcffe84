"""dask-distributed backend: a LocalCluster by default, or any scheduler address."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from icefb.backends._base import Backend, Resident

log = logging.getLogger(__name__)


def gather_directly(client: Any) -> bool:
    """Whether results should travel from the workers straight to ``client``.

    By default a distributed client fetches results through the scheduler, which relays them
    over its own connections; those pin pickle protocol 4, so every numpy array inside an
    xarray object is copied into the pickle on the worker, relayed through the scheduler and
    copied out again on the client. For a 224 MB segment Dataset that took 0.8-1.2 s here,
    against 0.11 s straight from the worker (protocol 5, arrays sent as buffers; measured in
    docs/performance.md). Direct transfer needs the client to reach every worker, which is
    certain only for a cluster this process started on this machine (``LocalCluster``); a
    worker address alone cannot tell (``127.0.0.1`` behind an SSH tunnel is another machine's
    loopback, and an unreachable worker costs a 30 s connect timeout before dask falls back
    to the scheduler).

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    bool
        The client's own ``direct_to_workers`` when set (``Client(...,
        direct_to_workers=...)`` or ``distributed.client.direct-to-workers``); otherwise True
        for a client of a ``LocalCluster`` object of this process, else False (dask's
        default).
    """
    if client.direct_to_workers is not None:
        return bool(client.direct_to_workers)
    from distributed import LocalCluster

    return isinstance(getattr(client, "cluster", None), LocalCluster)


def compute_kwargs() -> dict[str, Any]:
    """Extra ``dask.compute`` keywords for the active scheduler: ``direct=True`` on a
    distributed client whose workers can be reached directly (:func:`gather_directly`),
    nothing otherwise (threads, processes, synchronous)."""
    import dask.base

    get = dask.base.get_scheduler()
    client = getattr(get, "__self__", None)
    if client is None or not hasattr(client, "direct_to_workers"):
        return {}
    return {"direct": True} if gather_directly(client) else {}


def _own_direct() -> bool:
    """``direct_to_workers`` for the clients of icefb's own local clusters: True unless the
    user's dask config says otherwise."""
    import dask

    configured = dask.config.get("distributed.client.direct-to-workers", None)
    return True if configured is None else bool(configured)


class DaskBackend(Backend):
    """Run work units as tasks on a dask-distributed cluster.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes of the ``LocalCluster`` started when neither ``scheduler`` nor
        ``client`` is given (default 2).
    threads_per_worker : int
        Threads per local worker (default 1: the kernels release the GIL but units are
        CPU-bound, one per core).
    scheduler : str, optional
        Address of an existing scheduler (``"tcp://host:8786"``) or a scheduler file path.
    client : distributed.Client, optional
        An existing client (not closed by this backend).
    progress : bool
        Show a progress bar while units run.
    memory_limit : str
        Per-worker memory limit of the local cluster.
    gpu : bool
        Start dask-cuda's ``LocalCUDACluster`` (one worker per GPU) instead of a CPU
        ``LocalCluster``; needs the ``gpu`` extra and CUDA devices.
    trim_memory : bool
        Keep distributed's default of starting local worker processes with
        ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc hand freed memory back to the OS
        at once. Default False: the workers keep glibc's adaptive thresholds (or whatever the
        calling environment sets), because a fixed threshold also pins the mmap threshold at
        128 KiB, so every large numpy array is a fresh mapping that page-faults on first
        touch; that made an auto-labeling unit 20 % slower in a worker than in a plain process
        and, with two workers on two cores, turned the page zeroing into contention
        (docs/scaling.md). The price is a higher resident size after a peak. With
        ``trim_memory=True`` distributed also sets the variable in this process's own
        environment, so local clusters started later by the same process inherit it.
    profile : bool
        Keep the workers' statistical profiler (the dashboard's "Profile" page). Default
        False for a local cluster: it samples the running task's Python stack every 10 ms,
        which cost 4-8 % of the two-worker auto-labeling time here (docs/scaling.md).

    Notes
    -----
    Results come straight from the workers to the client when that is known to work
    (:func:`gather_directly`: for the local cluster this backend starts, unless
    ``distributed.client.direct-to-workers`` is set False; for a given client when it was made
    with ``direct_to_workers=True`` or from a ``LocalCluster`` object). distributed's default
    relays them through the scheduler, which pickles their arrays into the message.

    Examples
    --------
    >>> from icefb.backends.dask import DaskBackend
    >>> with DaskBackend(n_workers=1, progress=False) as be:  # doctest: +SKIP
    ...     be.map(abs, [-1, -2])
    [1, 2]
    """

    name = "dask"

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        threads_per_worker: int = 1,
        scheduler: str | None = None,
        client: Any = None,
        progress: bool = True,
        memory_limit: str = "auto",
        processes: bool = True,
        gpu: bool = False,
        trim_memory: bool = False,
        profile: bool = False,
    ) -> None:
        import dask
        from distributed import Client, LocalCluster

        self._own_client = client is None
        self._cluster = None
        self.progress = progress
        if client is not None:
            self.client = client
        elif scheduler is not None:
            if scheduler.endswith(".json"):
                self.client = Client(scheduler_file=scheduler, set_as_default=False)
            else:
                self.client = Client(scheduler, set_as_default=False)
        elif gpu:
            try:
                from dask_cuda import LocalCUDACluster
            except ImportError as err:
                from icefb.errors import ConfigError

                raise ConfigError(
                    "the GPU cluster needs dask-cuda", expected="pip install 'icefb[gpu]'"
                ) from err
            self._cluster = LocalCUDACluster(dashboard_address=":0")
            self.client = Client(self._cluster, set_as_default=False,
                                 direct_to_workers=_own_direct())
        else:
            # distributed logs every start-up step at INFO: keep a user's terminal readable
            if not log.isEnabledFor(logging.DEBUG):
                logging.getLogger("distributed").setLevel(logging.WARNING)
            extra: dict[str, Any] = {}
            if processes:
                # numba's parallel kernels (classifier inference) use as many threads as the
                # worker has, not every core of the machine
                extra["env"] = {"NUMBA_NUM_THREADS": str(threads_per_worker)}
                # the nannies keep this configuration for their workers, restarts included
                # (a deep-merged copy: they shallow-merge it over the global one)
                extra["config"] = dask.config.merge(
                    dask.config.config,
                    {"distributed": {"worker": {"profile": {"enabled": profile}}}})
            # read while the cluster starts: None removes the variable from what the nannies
            # set before spawning a worker (kept for restarts); threads read the profile flag
            settings: dict[str, Any] = {"distributed.worker.profile.enabled": profile}
            if not trim_memory:
                settings["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] = None
            with dask.config.set(settings):
                self._cluster = LocalCluster(
                    n_workers=n_workers or 2,
                    threads_per_worker=threads_per_worker,
                    processes=processes,
                    memory_limit=memory_limit,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                    **extra,
                )
            # results come straight from the local workers (gather_directly)
            self.client = Client(self._cluster, set_as_default=False,
                                 direct_to_workers=_own_direct())
        log.info("dask backend: %s", self.client)

    @property
    def _direct(self) -> bool | None:
        # None (not False) leaves distributed its own choice, e.g. inside a worker
        return True if gather_directly(self.client) else None

    @property
    def n_workers(self) -> int:
        info = self.client.scheduler_info()
        return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or 1

    def map(self, func: Callable[..., Any], units: Sequence[Any] | Resident,
            *args: Any, per_unit: Sequence[Any] | None = None) -> list[Any]:
        """Run ``func(unit, *args)`` for every unit on the cluster; results in unit order.

        Each call gets fresh task keys, so a repeated map recomputes (a cluster never hands
        back results of an earlier run). A unit's exception (an :mod:`icefb.errors` class,
        naming its file and beam) is re-raised here. Over a :class:`~icefb.backends.Resident`
        each task takes the future of its unit and runs on the worker holding it.
        """
        if isinstance(units, Resident):
            self._check_resident(units)
            self._check_per_unit(per_unit, len(units.handle))
            futures = self._submit(func, units.handle, args, [f.key for f in units.handle],
                                   per_unit)
        else:
            self._check_per_unit(per_unit, len(units))
            if not units:
                return []
            futures = self._submit(func, units, args, [getattr(u, "key", None) for u in units],
                                   per_unit)
        try:
            return self._wait(futures, func, gather=True)
        finally:
            del futures

    def persist(self, func: Callable[..., Any], units: Sequence[Any], *args: Any,
                summary: Callable[..., Any] | None = None) -> Resident:
        """Run every unit and keep the results on the workers (futures); see ``Backend``."""
        futures = self._submit(func, units, args, [getattr(u, "key", None) for u in units])
        self._wait(futures, func, gather=False)
        held = Resident(self, futures, len(futures))
        if summary is not None:
            try:
                held.summaries = self.map(summary, held, *args)
            except BaseException:
                held.release()
                raise
        return held

    def _collect(self, resident: Resident) -> list[Any]:
        self._check_resident(resident)
        return self.client.gather(resident.handle, direct=self._direct)

    def _release(self, resident: Resident) -> None:
        for f in resident.handle:
            f.release()

    def _submit(self, func: Callable[..., Any], items: Sequence[Any], args: tuple,
                names: Sequence[Any], per_unit: Sequence[Any] | None = None) -> list[Any]:
        import uuid

        token = uuid.uuid4().hex[:12]
        name = getattr(func, "__name__", "task")
        keys = [f"{name}-{k}-{i}-{token}" for i, k in enumerate(names)]
        # one graph update for all units (one submit per unit costs ~1 ms of client and
        # scheduler time each, on the cores the workers need)
        extra = [] if per_unit is None else [list(per_unit)]
        return self.client.map(func, list(items), *extra, *[[a] * len(keys) for a in args],
                               key=keys, pure=False)

    def _wait(self, futures: list[Any], func: Callable[..., Any], *, gather: bool) -> Any:
        from distributed import wait
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc=getattr(func, "__name__", "task"), unit="unit",
                   disable=not self.progress)
        for fut in futures:
            fut.add_done_callback(lambda _f: bar.update(1))
        try:
            if gather:
                return self.client.gather(futures, direct=self._direct)
            with self.client.as_current():  # wait() looks up the default client
                wait(futures)
            for fut in futures:  # re-raise a unit's error here, as map does
                if fut.status == "error":
                    fut.result()
            return None
        finally:
            bar.close()

    def close(self) -> None:
        if self._own_client:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()
