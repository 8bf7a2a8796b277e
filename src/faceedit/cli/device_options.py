"""``--device`` and ``--precision`` for every command that runs a network (decided by :mod:`faceedit.device`).

    def generate(..., device: DeviceOpt = "auto", precision: PrecisionOpt = "auto"):
        m = on_device(api.load(model), device, precision)
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from faceedit.device import DEVICE_HELP, PRECISION_HELP

#: ``device: DeviceOpt = "auto"``: where the networks run.
DeviceOpt = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
#: ``precision: PrecisionOpt = "auto"``: in which precision the generator computes.
PrecisionOpt = Annotated[str, typer.Option("--precision", help=PRECISION_HELP)]


def on_device(model, device: str = "auto", precision: str = "auto", say: bool = True):
    """``model`` (a loaded :class:`faceedit.api.Model`) moved to the resolved device, its generator set to the
    precision; prints the choice on stderr unless it is the plain CPU float32. Returns the model."""
    from faceedit.device import resolve

    compute = resolve(device, precision)
    compute.prepare_generator(model.G)
    if model.D is not None:
        model.D.to(compute.device)
    if say and (compute.device.type != "cpu" or compute.precision != "fp32"):
        print(f"device: {compute.describe()}", file=sys.stderr)
    return model
