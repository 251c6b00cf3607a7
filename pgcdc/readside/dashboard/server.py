"""``pgcdc dashboard``: serve the Streamlit page (app.py) on one local port.

Streamlit is what these users expect for a data page, and it bundles everything the page needs
(React front end, Vega-Lite for the charts), so nothing is fetched at run time. Its usage
statistics are off, it binds to the given address only, and the settings (the warehouse URI
may hold a password) reach the page through the environment, never the command line.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.settings import Settings

APP = Path(__file__).with_name("app.py")
EXTRA_MODULES = ("streamlit", "countryinfo")  # the ``dashboard`` extra of pyproject.toml


def require_extra() -> None:
    """Fail with the install command when the ``dashboard`` extra is not installed."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigurationError(
            f"the dashboard needs {', '.join(missing)}: pip install 'pgcdc[dashboard]'"
        )


def streamlit_command(*, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line: local only, no telemetry, no file watching."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        f"--server.port={port}",
        f"--server.address={address}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--global.developmentMode=false",
        "--client.toolbarMode=viewer",
        "--theme.base=light",
    ]


def page_environment(
    settings: Settings, refresh: float, *, warehouse_uri: str, source_dsn: str | None
) -> dict[str, str]:
    """The environment of the page's process: ours plus the settings, the warehouse URI and
    source DSN resolved by the caller (secrets included: never on a command line)."""
    env = dict(os.environ)
    env["PGCDC_WAREHOUSE_URI"] = warehouse_uri
    env.pop("PGCDC_WAREHOUSE_SECRET_ID", None)  # already resolved into the URI above
    env.pop("PGCDC_SOURCE_SECRET_ID", None)  # likewise, into the DSN (or none was found)
    env.pop("PGCDC_SOURCE_DSN", None)
    env["PGCDC_RAW_URI"] = settings.raw_uri
    env["PGCDC_SLOT"] = settings.slot
    if source_dsn is not None:
        env["PGCDC_SOURCE_DSN"] = source_dsn
    env["PGCDC_DASHBOARD_REFRESH"] = f"{refresh:g}"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def serve(
    settings: Settings,
    *,
    warehouse_uri: str,
    source_dsn: str | None,
    port: int,
    refresh: float,
    address: str = "127.0.0.1",
) -> int:
    """Run the dashboard until interrupted; the server's exit code. The page reads the slot's
    figures only when given a ``source_dsn``."""
    if refresh < 1:
        raise ConfigurationError(f"--refresh must be at least 1 second (got {refresh:g})")
    require_extra()
    print(f"dashboard on http://{address}:{port}/ (refresh every {refresh:g} s)", flush=True)
    process = subprocess.Popen(
        streamlit_command(port=port, address=address),
        env=page_environment(settings, refresh, warehouse_uri=warehouse_uri, source_dsn=source_dsn),
    )
    if hasattr(signal, "SIGTERM"):
        # a scheduler's stop reaches the page's process too, not only this one
        signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave the page's server running behind us
            process.wait()
        return 0
