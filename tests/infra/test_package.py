"""The Lambda artefacts of infra/package.py: within Lambda's limits, byte-identical from one
build to the next, holding the runtime's binaries and pgcdc's code, and importable.

The build downloads the wheels once per session (from the package index pip is configured
with) into a cache under the session's temporary folder; the second build reads that cache.
"""

from __future__ import annotations

import compileall
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO

pytestmark = pytest.mark.integration

UNZIPPED_LIMIT = 262_144_000  # Lambda: a function and its layers, unzipped
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # Lambda: a zip in the request itself
ELF_MACHINE_X86_64 = 62


@dataclass
class Build:
    """One run of infra/package.py: its folder, manifest and printed lines."""

    out: Path
    manifest: dict[str, Any]
    stdout: str

    @property
    def code(self) -> Path:
        """The code zip."""
        return self.out / "pgcdc.zip"

    @property
    def layer(self) -> Path:
        """The dependencies layer zip."""
        return self.out / "dependencies.zip"


def run_package(out: Path, cache: Path) -> Build:
    """Run the packaging script as `make package` does, into ``out``."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "infra" / "package.py"),
            "--out",
            str(out),
            "--cache",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    manifest = json.loads((out / "manifest.json").read_text())
    return Build(out=out, manifest=manifest, stdout=result.stdout)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Build, Build]:
    """Two builds into separate folders with one wheel cache."""
    root = tmp_path_factory.mktemp("package")
    cache = root / "cache"
    return run_package(root / "first", cache), run_package(root / "second", cache)


@pytest.fixture(scope="module")
def build(builds: tuple[Build, Build]) -> Build:
    """The first build."""
    return builds[0]


@pytest.fixture(scope="module")
def unpacked(build: Build, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The code zip unpacked as /var/task and the layer as /opt: (task, layer's python/)."""
    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(build.code) as archive:
        archive.extractall(root / "task")
    with zipfile.ZipFile(build.layer) as archive:
        archive.extractall(root / "opt")
    return root / "task", root / "opt" / "python"


def unzipped_size(path: Path) -> int:
    """Sum of the uncompressed sizes of a zip's entries."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def test_sizes_are_within_lambda_limits(build: Build) -> None:
    code, layer = unzipped_size(build.code), unzipped_size(build.layer)
    assert build.manifest["total_unzipped_bytes"] == code + layer
    assert code + layer < UNZIPPED_LIMIT, f"code {code} + layer {layer} bytes unzipped"
    assert build.code.stat().st_size < DIRECT_UPLOAD_LIMIT
    assert build.manifest["layer"]["zipped_bytes"] == build.layer.stat().st_size
    assert "unzipped: code" in build.stdout  # the size report is printed


def test_two_builds_are_byte_identical(builds: tuple[Build, Build]) -> None:
    first, second = builds
    for name in ("pgcdc.zip", "dependencies.zip", "manifest.json"):
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), name
    digest = first.manifest["layer"]["sha256"]
    assert f"{digest}  " in first.stdout and f"{digest}  " in second.stdout
    assert "wheels from the cache" in second.stdout  # the second build downloads nothing


def test_entries_are_normalised(build: Build) -> None:
    for path in (build.code, build.layer):
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names), path.name
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in infos} <= {0o100644, 0o100755}
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", "/"))]


def test_layer_holds_the_runtimes_binaries(build: Build) -> None:
    with zipfile.ZipFile(build.layer) as archive:
        names = set(archive.namelist())
        extensions = {
            "pyarrow": "python/pyarrow/lib.cpython-312-x86_64-linux-gnu.so",
            "duckdb": "python/_duckdb.abi3.so",
            "psycopg": "python/psycopg_binary/_psycopg.cpython-312-x86_64-linux-gnu.so",
        }
        for package, name in extensions.items():
            assert name in names, f"{package}: {name} missing"
            header = archive.read(name)[:20]
            assert header[:4] == b"\x7fELF", name
            assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_X86_64, name
    tags = {wheel["name"]: wheel["tags"] for wheel in build.manifest["wheels"]}
    for package in ("pyarrow", "duckdb", "psycopg-binary"):
        assert "cp312" in tags[package] and "manylinux" in tags[package], tags[package]
        assert "x86_64" in tags[package], tags[package]
    assert not [n for n in names if n.startswith(("python/boto3/", "python/botocore/"))]
    assert "boto3" in build.manifest["excluded"]
    assert all(n.startswith("python/") for n in names)


def test_code_zip_holds_the_packages_and_their_sql(build: Build) -> None:
    with zipfile.ZipFile(build.code) as archive:
        names = set(archive.namelist())
    assert "pgcdc/pipeline/handlers.py" in names  # what the functions' handlers name
    sql = {p.relative_to(REPO).as_posix() for p in REPO.glob("pgcdc/transformer/sql/*.sql")}
    assert sql and sql <= names
    audits = {
        p.relative_to(REPO).as_posix() for p in REPO.glob("pgcdc/warehouse_loader/audits/*.sql")
    }
    assert audits and audits <= names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    assert {n.split("/", 1)[0] for n in names} == {"pgcdc"}
    shipped = {n.split("/")[1] for n in names if n.count("/") >= 2}
    assert shipped == {
        "schemas",
        "cdc_reader",
        "transformer",
        "warehouse_loader",
        "pipeline",
        "storage",
        "readside",
    }


def test_code_zip_holds_no_workstation_tooling(build: Build) -> None:
    """The demo, the local cluster and the dashboard stay out of what Lambda runs."""
    with zipfile.ZipFile(build.code) as archive:
        names = archive.namelist()
    assert "pgcdc/readside/status.py" in names  # the read side the handlers use is there
    shipped = [
        n
        for n in names
        if n.startswith(("pgcdc/devtools/", "pgcdc/readside/dashboard/"))
        or any(word in n for word in ("demo", "localpg", "streamlit"))
    ]
    assert shipped == []


def test_code_compiles(unpacked: tuple[Path, Path], tmp_path: Path) -> None:
    """Every module of the code zip compiles (under the interpreter running the tests)."""
    task, _ = unpacked
    copy = tmp_path / "task"
    shutil.copytree(task, copy)
    assert compileall.compile_dir(copy, quiet=1, workers=1)


def python312() -> str | None:
    """A CPython 3.12 interpreter on this machine (the Lambda runtime's), or None."""
    candidates = [os.environ.get("PGCDC_LAMBDA_PYTHON"), shutil.which("python3.12")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv / "versions" / "3.12*" / "bin" / "python3.12")))
    candidates += ["/usr/bin/python3.12", "/usr/local/bin/python3.12"]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


IMPORT_CHECK = """
import json, sys, tempfile
import pyarrow as pa, pyarrow.compute, pyarrow.csv, pyarrow.fs, pyarrow.parquet as pq
import duckdb, psycopg, pydantic, pydantic_settings, orjson, tenacity, rich.progress
import {handlers} as handlers
import pgcdc.cdc_reader.capture, pgcdc.cdc_reader.snapshot, pgcdc.transformer.runner
import pgcdc.warehouse_loader.loader, pgcdc.pipeline.cli
import pgcdc.readside.status, pgcdc.readside.query
from pgcdc.transformer.targets import iso_4217
from importlib.util import find_spec

path = tempfile.mkdtemp() + "/t.parquet"
pq.write_table(pa.table({{"x": [1, 2, 3]}}), path, compression="zstd")
total = duckdb.connect().execute(f"select sum(x) from read_parquet('{{path}}')").fetchall()[0][0]
print(json.dumps({{
    "total": total,
    "psycopg_impl": psycopg.pq.__impl__,
    "currencies": iso_4217().num_rows,
    "s3": hasattr(pyarrow.fs, "S3FileSystem"),
    "absent": [m for m in ("pgcdc.devtools", "pgcdc.readside.dashboard") if find_spec(m) is None],
    "files": {{m: sys.modules[m].__file__ for m in ("pyarrow", "duckdb", "psycopg", "{handlers}")}},
}}))
"""


def test_handlers_import_under_python312(unpacked: tuple[Path, Path]) -> None:
    """Code + layer import in a bare CPython 3.12 (no site-packages), as in /var/task + /opt."""
    interpreter = python312()
    if interpreter is None:
        pytest.skip("no CPython 3.12 on this machine: only compileall was checked")
    task, layer = unpacked
    handlers = "pgcdc.pipeline.handlers"
    result = subprocess.run(
        [interpreter, "-S", "-c", IMPORT_CHECK.format(handlers=handlers)],
        env={"PYTHONPATH": f"{task}{os.pathsep}{layer}", "PATH": os.environ["PATH"]},
        cwd=task.parent,  # not the repository: its packages must not shadow the zip's
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["total"] == 6
    assert report["psycopg_impl"] == "binary"
    assert report["currencies"] > 100  # pycountry's ISO 4217 data survived the trimming
    assert report["s3"]
    assert report["absent"] == [
        "pgcdc.devtools",
        "pgcdc.readside.dashboard",
    ]  # imported without them
    for module, file in report["files"].items():
        assert Path(file).is_relative_to(task) or Path(file).is_relative_to(layer), module
