"""The demo source: the totesys OLTP database, its generated history and a live workload.

- :func:`init_demo` creates the 11 totesys tables and loads 2.5 years of history.
- :func:`run_workload` then writes to them like the application does, at a given rate.
"""

from __future__ import annotations

from pgcdc.devtools.demo.loader import DemoSummary, init_demo
from pgcdc.devtools.demo.workload import WorkloadSummary, run_workload

__all__ = ["DemoSummary", "WorkloadSummary", "init_demo", "run_workload"]
