"""CloudWatch Embedded Metric Format (EMF): metrics as one JSON line on stdout.

On Lambda, a line holding an ``_aws`` object with ``CloudWatchMetrics`` is turned into metrics
by CloudWatch Logs itself: no ``PutMetricData`` call, no extra permission, no network. The
handlers print one such document per figure set: the slot's lag and retained WAL and the age
of the last capture after each capture (``capture_handler``), the warehouse's freshness
(``FreshnessSeconds``) after each load (``load_handler``).

Names and namespace match infra/modules/pgcdc/monitoring.tf: the ``SlotLagBytes`` and
``FreshnessSeconds`` alarms there have no dimensions, so the metrics are published with the
empty dimension set (``"Dimensions": [[]]``), which is what those alarms read. An EMF line has
no ``level`` key, so the ERROR-line filters (``{ $.level = "ERROR" }``) never count it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

# The namespace the module's alarms read (its variable ``metric_namespace``); Terraform
# passes it to the functions as this environment variable.
NAMESPACE_ENV = "PGCDC_METRIC_NAMESPACE"
DEFAULT_NAMESPACE = "pgcdc"

# The units CloudWatch accepts that pgcdc's figures use.
UNITS = frozenset({"Bytes", "Seconds", "Count", "Milliseconds", "None"})


@dataclass(frozen=True)
class Metric:
    """One figure: its CloudWatch name, value and unit."""

    name: str
    value: float
    unit: str = "None"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(
                f"metric {self.name}: unit {self.unit!r} is not one of {sorted(UNITS)}"
            )
        if not self.name or self.name.startswith("_"):
            raise ValueError(f"metric name {self.name!r} is empty or starts with '_'")


def namespace() -> str:
    """The namespace from the environment (set by Terraform), else ``pgcdc``."""
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def document(
    metrics: list[Metric],
    *,
    properties: Mapping[str, Any] | None = None,
    metric_namespace: str | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The EMF document for ``metrics``, dimensionless, with ``properties`` as context.

    Properties (slot, step, execution id) are searchable in Logs Insights but are not
    dimensions: the alarms aggregate over the whole namespace metric.
    """
    context = dict(properties or {})
    clash = sorted({m.name for m in metrics} & (set(context) | {"_aws"}))
    if clash:
        raise ValueError(f"metric names clash with properties: {clash}")
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": metric_namespace or namespace(),
                    "Dimensions": [[]],
                    "Metrics": [{"Name": m.name, "Unit": m.unit} for m in metrics],
                }
            ],
        },
        **context,
    }
    for metric in metrics:
        doc[metric.name] = metric.value
    return doc


def emit(
    metrics: list[Metric],
    *,
    properties: Mapping[str, Any] | None = None,
    stream: IO[str] | None = None,
) -> dict[str, Any] | None:
    """Print the EMF line for ``metrics`` (nothing when empty); the document printed."""
    if not metrics:
        return None
    doc = document(metrics, properties=properties)
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(doc, default=str) + "\n")
    out.flush()
    return doc
