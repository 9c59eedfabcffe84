"""A PyTorch Lightning 2.x ``Strategy`` on Horovod (Lightning 2 removed its own).

Data-parallel training over ``horovod.torch``: every process runs the same LightningModule;
rank and size come from ``hvd``; parameters and optimizer state are broadcast from rank 0 at
setup; each optimizer is wrapped in ``hvd.DistributedOptimizer`` so gradients are averaged with
allreduce after every backward; the data module's ``DistributedSampler`` splits the data by
``hvd.rank()``; reduce / all_gather / broadcast / barrier go through Horovod. As Horovod
documents, the learning rate (and the base rate of LR schedulers) is multiplied by
``hvd.size()`` because the effective batch grows with the number of processes
(``scale_lr=False`` turns this off).

Launch one process per device with Horovod's launcher, e.g. on CPU with Gloo::

    horovodrun -np 2 -H localhost:2 --gloo python -m icefb.ml.train --strategy horovod ...

Horovod is imported when the strategy is built, so importing this module does not need it.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.strategies import ParallelStrategy
from pytorch_lightning.trainer.states import TrainerFn

__all__ = ["HorovodStrategy"]


def _hvd():
    import horovod.torch as hvd

    return hvd


class HorovodStrategy(ParallelStrategy):
    """Horovod data-parallel strategy for ``pytorch_lightning.Trainer`` (Lightning 2.x).

    Parameters
    ----------
    scale_lr : bool
        Multiply every optimizer learning rate by ``hvd.size()`` at setup (Horovod's rule).
    **kwargs
        Passed to ``ParallelStrategy`` (``accelerator``, ``checkpoint_io``, ...).

    Notes
    -----
    Gradients accumulated over ``accumulate_grad_batches`` are reduced once per optimizer
    step (``backward_passes_per_step``).
    """

    strategy_name = "horovod"

    def __init__(self, scale_lr: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        hvd = _hvd()
        hvd.init()
        self.scale_lr = scale_lr
        self._exit_stack: ExitStack | None = None

    # -- ranks ------------------------------------------------------------------------------
    @property
    def global_rank(self) -> int:  # noqa: D102
        return _hvd().rank()

    @property
    def local_rank(self) -> int:  # noqa: D102
        return _hvd().local_rank()

    @property
    def node_rank(self) -> int:  # noqa: D102
        return _hvd().cross_rank()

    @property
    def world_size(self) -> int:  # noqa: D102
        return _hvd().size()

    @property
    def is_distributed(self) -> bool:  # noqa: D102
        return True

    @property
    def root_device(self) -> torch.device:  # noqa: D102
        if self.parallel_devices and self.parallel_devices[0].type == "cuda":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any]:  # noqa: D102
        return {"num_replicas": self.world_size, "rank": self.global_rank}

    # -- setup ------------------------------------------------------------------------------
    def setup_environment(self) -> None:  # noqa: D102
        _hvd().init()
        super().setup_environment()

    def model_to_device(self) -> None:  # noqa: D102
        if self.root_device.type == "cuda":
            torch.cuda.set_device(self.root_device)
        self.model.to(self.root_device)

    def setup(self, trainer) -> None:  # noqa: D102
        hvd = _hvd()
        super().setup(trainer)
        self._exit_stack = ExitStack()
        self._exit_stack.__enter__()
        if trainer.state.fn != TrainerFn.FITTING:
            return
        optimizers = [o._optimizer if isinstance(o, LightningOptimizer) else o
                      for o in self.optimizers]
        if self.scale_lr:
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] *= self.world_size
            for cfg in self.lr_scheduler_configs:
                cfg.scheduler.base_lrs = [lr * self.world_size for lr in cfg.scheduler.base_lrs]
        hvd.broadcast_parameters(self.lightning_module.state_dict(), root_rank=0)
        for opt in optimizers:
            hvd.broadcast_optimizer_state(opt, root_rank=0)
        wrapped = []
        for opt in optimizers:
            params = {id(p) for g in opt.param_groups for p in g["params"]}
            named = [(n, p) for n, p in self.lightning_module.named_parameters()
                     if id(p) in params]
            wrapped.append(hvd.DistributedOptimizer(
                opt, named_parameters=named,
                backward_passes_per_step=trainer.accumulate_grad_batches,
            ))
        self.optimizers = wrapped
        for opt in self.optimizers:
            # gradients are synchronised explicitly in post_backward
            self._exit_stack.enter_context(opt.skip_synchronize())

    def post_backward(self, closure_loss: torch.Tensor) -> None:  # noqa: D102
        for opt in self.optimizers:
            if hasattr(opt, "synchronize"):
                opt.synchronize()

    # -- collectives ------------------------------------------------------------------------
    def barrier(self, name: str | None = None, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        hvd = _hvd()
        if hvd.is_initialized() and hvd.size() > 1:
            hvd.allreduce(torch.zeros(1), name=f"barrier.{name}" if name else "barrier")

    def broadcast(self, obj: Any, src: int = 0) -> Any:  # noqa: D102
        hvd = _hvd()
        if hvd.size() == 1:
            return obj
        return hvd.broadcast_object(obj, root_rank=src)

    def reduce(self, tensor: Any, group: Any | None = None,  # noqa: D102
               reduce_op: Any | None = "mean") -> Any:
        hvd = _hvd()
        if not isinstance(tensor, torch.Tensor):
            return tensor
        op = str(reduce_op).lower() if reduce_op is not None else "mean"
        if op in ("mean", "avg", "reduceop.avg"):
            hop = hvd.Average
        elif op in ("sum", "reduceop.sum", "redopt.sum"):
            hop = hvd.Sum
        elif op.endswith("sum"):
            hop = hvd.Sum
        else:
            raise ValueError(f"HorovodStrategy.reduce: unsupported reduce_op {reduce_op!r}")
        if hvd.size() == 1:
            return tensor
        return hvd.allreduce(tensor.detach().cpu(), op=hop).to(tensor.device)

    def all_gather(self, tensor: torch.Tensor, group: Any | None = None,  # noqa: D102
                   sync_grads: bool = False) -> torch.Tensor:
        hvd = _hvd()
        t = tensor.reshape(1) if tensor.dim() == 0 else tensor
        gathered = hvd.allgather(t.detach().cpu()).to(tensor.device)
        return gathered.reshape(hvd.size(), *t.shape)

    def teardown(self) -> None:  # noqa: D102
        if self._exit_stack is not None:
            self._exit_stack.__exit__(None, None, None)
            self._exit_stack = None
        super().teardown()
