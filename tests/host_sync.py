"""A CPU stand-in for ``torch.cuda.set_sync_debug_mode("error")``: what a stretch of code
does that would make the host wait for the device on CUDA.

On the CPU nothing waits, so the recorder keeps track of which tensors would live on
the host on CUDA: those made inside the window by a factory given no device (e.g.
``torch.randperm(n)``, any draw from torch's global CPU RNG) or given the
string ``"cpu"`` (torch.optim's step counters), and those computed from host tensors
only. Every other tensor (parameters, the data, whatever a ``torch.device`` object
placed, everything made before the window) counts as a device tensor. It records:

- reads of a device value: ``aten._local_scalar_dense`` (``item``, ``float``, ``int``,
  ``bool`` of a tensor, also inside library code), ``tolist``, ``numpy``, ``cpu``,
  ``to("cpu")``;
- device operations whose result size depends on the values (``nonzero``, boolean-mask
  indexing, ``masked_select``, ``unique``, ``equal``, ``repeat_interleave``);
- blocking host-to-device copies: ``host.to(device)`` without ``non_blocking=True``
  (``cudaMemcpy`` + stream synchronize on CUDA), and a host tensor of more than one
  element used with device tensors (an implicit copy, e.g. a host index).

Checks that only the CPU kernels make are not counted: ``one_hot`` given ``num_classes``
reads the labels' min and max on the CPU, while on CUDA it leaves the range check to the
device assert of its scatter.

Limits (where the CPU cannot tell): a ``torch.device("cpu")`` object is taken for the
device, and a copy from unpinned host memory with ``non_blocking=True`` passes.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakTensorKeyDictionary

aten = torch.ops.aten
PROJECT = Path(__file__).resolve().parents[1]

VALUE_SIZED = {
    aten.nonzero,
    aten.masked_select,
    aten._unique,
    aten._unique2,
    aten.unique_dim,
    aten.unique_consecutive,
    aten.equal,
    aten.repeat_interleave,
}
"""Device ops whose output size (or result) the host must read back."""

MASK_INDEXED = {aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_}

HOST_READS = {"tolist", "numpy", "__array__", "cpu"}
"""Tensor methods that hand device values to the host (``item`` is seen by dispatch)."""


def _cpu_only_check(name: str, args: tuple, kwargs: dict) -> bool:
    """Whether the call's host reads happen on the CPU only (see the module doc)."""
    if name != "one_hot":
        return False
    classes = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
    return classes != -1


def _tensors(*trees: Any) -> list[torch.Tensor]:
    return [x for x in tree_flatten(trees)[0] if isinstance(x, torch.Tensor)]


def _target(name: str, args: tuple, kwargs: dict) -> Any:
    """The device a call puts its result on (None: not said)."""
    if name == "cuda":
        return "cuda"
    if "device" in kwargs:
        return kwargs["device"]
    if name == "to":
        for arg in args[1:]:
            if isinstance(arg, str | torch.device):
                return arg
            if isinstance(arg, torch.Tensor):
                return arg.device
    return None


def _names_host(device: Any) -> bool:
    return isinstance(device, str) and device.split(":")[0] == "cpu"


class HostSyncRecorder:
    """Records host syncs between :meth:`start` and :meth:`stop` (see the module doc)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._host = WeakTensorKeyDictionary()
        self._modes: list[Any] = []
        self._quiet = 0  # > 0: inside a call whose host reads are CPU-only checks
        self.windows = 0  # recording windows started

    def is_host(self, tensor: torch.Tensor) -> bool:
        """Whether ``tensor`` would be a host tensor on CUDA."""
        return tensor in self._host

    def record(self, what: str) -> None:
        """Note ``what`` at the innermost project line (outside this file) that led to it."""
        where = "?"
        for frame in reversed(traceback.extract_stack()):
            path = Path(frame.filename)
            ours = path.is_relative_to(PROJECT) and "site-packages" not in path.parts
            if ours and path.name != Path(__file__).name:
                where = f"{path.relative_to(PROJECT)}:{frame.lineno}"
                break
        self.events.append(f"{what} at {where}")

    def start(self) -> None:
        """Begin recording (function level first, so the dispatch level sits inside it)."""
        if self._modes:
            return
        self.windows += 1
        self._modes = [_FunctionLevel(self.call), _DispatchLevel(self.op)]
        for mode in self._modes:
            mode.__enter__()

    def stop(self) -> None:
        """Stop recording (a no-op when not recording)."""
        while self._modes:
            self._modes.pop().__exit__(None, None, None)

    def _tag(self, outputs: Any, host: bool) -> None:
        for tensor in _tensors(outputs):
            if host:
                self._host[tensor] = True
            else:
                self._host.pop(tensor, None)

    def call(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """A Python-level torch call: where tensors are made and moved, host reads of values."""
        name = getattr(func, "__name__", str(func))
        inputs = _tensors(args, kwargs)
        on_device = [t for t in inputs if not self.is_host(t)]
        on_host = [t for t in inputs if self.is_host(t)]
        target = _target(name, args, kwargs)
        if on_device and (name in HOST_READS or (name == "to" and _names_host(target))):
            self.record(f"Tensor.{name}() of a device tensor")
        elif on_host and target is not None and not _names_host(target):
            if name in ("to", "cuda") and not kwargs.get("non_blocking", False):
                self.record(f"blocking host-to-device copy (Tensor.{name}, no non_blocking)")
        elif on_device and any(t.numel() > 1 for t in on_host):
            shapes = [tuple(t.shape) for t in on_host if t.numel() > 1]
            self.record(f"{name}: host tensor(s) {shapes} used with device tensors")
        quiet = _cpu_only_check(name, args, kwargs)
        self._quiet += quiet
        try:
            result = func(*args, **kwargs)
        finally:
            self._quiet -= quiet
        # a factory given no device, or host inputs only, makes host tensors
        self._tag(result, _names_host(target) if target is not None else not on_device)
        return result

    def op(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """An aten op: device values read back by the host."""
        packet = func.overloadpacket
        on_device = [t for t in _tensors(args, kwargs) if not self.is_host(t)]
        if on_device and not self._quiet:
            if packet is aten._local_scalar_dense:
                self.record("aten._local_scalar_dense (item/float/int/bool of a device tensor)")
            elif packet in VALUE_SIZED:
                self.record(f"aten.{packet.__name__} (result size depends on device values)")
            elif packet in MASK_INDEXED and any(
                t.dtype in (torch.bool, torch.uint8) for t in _tensors(args[1])
            ):
                self.record(f"aten.{packet.__name__} with a boolean mask (nonzero)")
        return func(*args, **kwargs)


class _Handing:
    """A torch mode that hands every call to ``handle(func, args, kwargs)``."""

    def __init__(self, handle: Any) -> None:
        super().__init__()
        self.handle = handle


class _FunctionLevel(_Handing, TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return self.handle(func, args, kwargs or {})


class _DispatchLevel(_Handing, TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return self.handle(func, args, kwargs or {})
