"""Build pgcdc's AWS Lambda artefacts: the code zip and the dependencies layer zip.

``python infra/package.py`` (or ``make package``) writes, under ``dist/lambda/``:

- ``pgcdc.zip``: the package ``pgcdc`` (stages, read side, wiring) at the zip's root, with its
  ``.sql`` and ``.json`` data files (what ``pyproject.toml`` packages), no tests, no
  ``__pycache__``, and not what only a workstation runs (``NOT_SHIPPED``);
- ``dependencies.zip``: the runtime dependencies of ``[project].dependencies`` as a layer
  (``python/...``), taken only from binary wheels for the Lambda runtime (CPython 3.12,
  manylinux, x86_64 by default), whatever the machine that builds;
- ``manifest.json``: sizes, sha256 digests, the wheels and what was trimmed.

Why each choice:

- The artefacts are deterministic (entries sorted, every timestamp 1980-01-01, fixed
  permissions, no bytecode), so the same inputs give byte-identical zips and Terraform's
  ``filebase64sha256`` only changes, and only redeploys the functions, when the content does.
- The dependency versions are pinned to those installed in the interpreter that runs this
  script (the project's virtualenv: the versions its tests ran against); ``--no-pin`` takes
  the newest releases ``pyproject.toml`` allows instead.
- ``boto3`` (and with it botocore, s3transfer, jmespath, urllib3, dateutil) is left out: every
  Lambda Python runtime ships the SDK, pgcdc only calls Secrets Manager's GetSecretValue
  through it (pyarrow's S3 filesystem has its own C++ client), and the SDK is ~23 MB of the
  250 MB Lambda allows for a function and its layers. ``--include-sdk`` bundles it.
- The dashboard's libraries are the ``dashboard`` extra, not ``[project].dependencies``: only
  ``pgcdc dashboard`` on a workstation imports them, so they never reach the layer.
- Lambda refuses a function whose code and layers unzip to 262,144,000 bytes or more, so a
  few parts of the wheels that nothing imports at run time are trimmed (``TRIM_RULES``); a
  build over the limit fails with the sizes, and docs/deploy-aws.md describes the container
  image route for that case.

Downloads are cached (``--cache``, default ``dist/cache``) by the exact set of pins and target,
so a second build reads only the cache and makes no network request.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]

# Lambda's quotas: code + layers unzipped (CreateFunction answers "Unzipped size must be
# smaller than 262144000 bytes"), and a zip sent in the request itself (Terraform's
# `filename`), 50 MB; bigger zips go through S3.
UNZIPPED_LIMIT = 250 * 1024 * 1024  # 262,144,000 bytes
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o644
LIBRARY_MODE = 0o755  # shared libraries, as pip installs them
COMPRESS_LEVEL = 6
LAYER_ROOT = "python/"  # where Lambda puts a layer's python/ on sys.path (/opt/python)

# The glibc of the Lambda Python 3.12 runtime (Amazon Linux 2023) is 2.34: manylinux_2_28 and
# older wheels run there.
PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}

# Left out of the layer: the runtime provides boto3 (see the module docstring).
RUNTIME_PROVIDED = {"boto3": "provided by the Lambda Python runtime"}

# Parts of wheels that nothing imports at run time, as (reason, pattern on the path inside
# site-packages). Only what is safe: a trimmed feature fails with an ImportError naming it.
TRIM_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bytecode caches", re.compile(r"(^|/)__pycache__/|\.py[co]$")),
    ("a package's own test suite", re.compile(r"^[^/]+/tests?/")),
    ("type stubs (.pyi)", re.compile(r"\.pyi$")),
    (
        "pyarrow's C++ headers and Cython sources",
        re.compile(r"^pyarrow/(include|src)/|\.(pyx|pxd|pxi)$"),
    ),
    (
        "pyarrow's Arrow Flight RPC (pyarrow.flight: pgcdc never imports it)",
        re.compile(r"^pyarrow/(_flight\.|libarrow_flight\.|libarrow_python_flight\.)"),
    ),
    ("pyarrow's C++ test module", re.compile(r"^pyarrow/_pyarrow_cpp_tests\.")),
    (
        "pycountry's translations (pgcdc reads the English ISO 4217 names)",
        re.compile(r"^pycountry/locales/"),
    ),
)

# The project's code: what setuptools packages (pyproject's packages.find and package-data).
CODE_SUFFIXES = (".py", ".sql", ".json")
# Packaged for a workstation, never imported by a handler: the demo and local-cluster tooling
# and what runs the demo, and the dashboard (its Streamlit and Altair are the ``dashboard``
# extra, not in the layer). Only pgcdc.pipeline.cli names them, inside the commands that use them.
NOT_SHIPPED = ("pgcdc/devtools", "pgcdc/readside/dashboard", "pgcdc/pipeline/demo_run.py")


class PackagingError(Exception):
    """A build that cannot produce valid artefacts; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """The Lambda runtime the artefacts are built for."""

    python_version: str = "3.12"
    architecture: str = "x86_64"

    @property
    def platforms(self) -> tuple[str, ...]:
        """pip's ``--platform`` values, newest first."""
        return PLATFORMS[self.architecture]

    def marker_environment(self) -> dict[str, str]:
        """Environment markers as they evaluate inside the Lambda runtime."""
        return {
            "python_version": self.python_version,
            "python_full_version": f"{self.python_version}.0",
            "implementation_name": "cpython",
            "implementation_version": f"{self.python_version}.0",
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": MACHINES[self.architecture],
        }


@dataclass(frozen=True)
class Entry:
    """One file of a zip: where it goes, its mode, its size and how to read it."""

    arcname: str
    size: int
    source: tuple[Path, str | None]  # (file on disk, None) or (wheel, member)

    @property
    def mode(self) -> int:
        """0755 for shared libraries, 0644 for everything else."""
        return LIBRARY_MODE if re.search(r"\.so(\.|$)", self.arcname) else FILE_MODE


@dataclass
class ZipReport:
    """What one written zip holds."""

    path: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        """The report for manifest.json (the file name: the manifest lies beside the zips)."""
        return {
            "file": self.path.name,
            "files": self.files,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
            "sha256": self.sha256,
        }


@dataclass
class Trimmed:
    """Files left out of the layer, by reason."""

    by_reason: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, size: int) -> None:
        """Count one file of ``size`` bytes left out for ``reason``."""
        counts = self.by_reason.setdefault(reason, [0, 0])
        counts[0] += 1
        counts[1] += size

    def as_json(self) -> dict[str, dict[str, int]]:
        """``{reason: {"files": n, "bytes": b}}``."""
        return {r: {"files": n, "bytes": b} for r, (n, b) in sorted(self.by_reason.items())}


def display(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path.resolve())


def say(message: str) -> None:
    """One progress line on stdout (flushed, so it interleaves with pip's own output)."""
    print(f"package: {message}", flush=True)


def megabytes(size: int) -> str:
    """``size`` in MiB, one decimal (Lambda's "250 MB" and "50 MB" quotas are MiB)."""
    return f"{size / (1 << 20):.1f} MiB"


# --- what to download --------------------------------------------------------------------


def project_metadata() -> tuple[list[str], list[str]]:
    """The runtime requirements and the top-level package names from pyproject.toml."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        pyproject = tomllib.load(handle)
    requirements = list(pyproject["project"]["dependencies"])
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted({pattern.rstrip("*").rstrip(".") for pattern in include})
    return requirements, packages


def runtime_requirements(requirements: list[str], include_sdk: bool) -> list[str]:
    """The requirements to put in the layer: all but what the runtime provides."""
    kept = []
    for text in requirements:
        name = canonicalize_name(Requirement(text).name)
        reason = excluded(include_sdk).get(name)
        if reason is None:
            kept.append(text)
        else:
            say(f"leaving out {name}: {reason}")
    return kept


def excluded(include_sdk: bool) -> dict[str, str]:
    """The top-level requirements the layer leaves out, with the reason."""
    return {} if include_sdk else dict(RUNTIME_PROVIDED)


def installed_pins(requirements: list[str], target: Target) -> tuple[dict[str, str], list[str]]:
    """Pin every requirement the target needs, transitively, to its installed version.

    Walks the installed distributions' metadata with the target's markers. Returns the pins
    and the names that are not installed here (or whose installed version the requirement
    does not allow): pip resolves those itself.
    """
    environment = target.marker_environment()
    pins: dict[str, str] = {}
    unpinned: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [Requirement(text) for text in requirements]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            unpinned.append(name)
            continue
        version = distribution.version
        if not requirement.specifier.contains(version, prereleases=True):
            unpinned.append(name)
            continue
        pins[name] = version
        queue.extend(dependencies_of(distribution, requirement.extras, environment))
    return pins, sorted(set(unpinned) - set(pins))


def dependencies_of(
    distribution: metadata.Distribution, extras: set[str], environment: dict[str, str]
) -> Iterator[Requirement]:
    """The requirements of ``distribution`` (with ``extras``) that apply in ``environment``."""
    for text in distribution.requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or any(
            requirement.marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras}
        ):
            yield requirement


# --- downloading -------------------------------------------------------------------------


def download_wheels(
    requirements: list[str], pins: dict[str, str], target: Target, cache: Path
) -> list[Path]:
    """The target's wheels for ``requirements``, from the cache or through ``pip download``.

    The cache folder is named by a digest of everything that decides the download (the
    requirements, the pins, the platforms and Python version), and marked complete only after
    pip succeeded, so a cached set is never partial. Idempotent.
    """
    constraints = sorted(f"{name}=={version}" for name, version in pins.items())
    recipe = {
        "requirements": requirements,
        "constraints": constraints,
        "platforms": list(target.platforms),
        "python_version": target.python_version,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache / "wheels" / digest
    marker = folder / "complete.json"
    if marker.exists():
        names = json.loads(marker.read_text())["wheels"]
        wheels = [folder / name for name in names]
        if all(wheel.exists() for wheel in wheels):
            say(f"{len(wheels)} wheels from the cache {display(folder)}")
            return wheels
    folder.mkdir(parents=True, exist_ok=True)
    constraints_file = folder / "constraints.txt"
    constraints_file.write_text("".join(f"{line}\n" for line in constraints))
    say(f"downloading wheels for CPython {target.python_version} {' / '.join(target.platforms)}")
    run_pip_download(requirements, constraints_file, target, folder)
    wheels = sorted(folder.glob("*.whl"))
    marker.write_text(json.dumps({"recipe": recipe, "wheels": [w.name for w in wheels]}))
    return wheels


def run_pip_download(
    requirements: list[str], constraints: Path, target: Target, folder: Path
) -> None:
    """``pip download`` binary wheels for the target into ``folder``; pip's lines show."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
    for platform in target.platforms:
        command += ["--platform", platform]
    command += [
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--dest",
        str(folder),
        "--constraint",
        str(constraints),
        "--progress-bar",
        "off",
        "--disable-pip-version-check",
        *requirements,
    ]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise PackagingError(
            f"pip download exited {result.returncode} (see its output above): no binary wheel "
            f"of some requirement for CPython {target.python_version} on "
            f"{' / '.join(target.platforms)}, or no network to the package index"
        )


def check_wheel_tags(wheels: list[Path], target: Target) -> list[dict[str, str]]:
    """Each wheel's name, version and tags; refuses a wheel the target cannot load."""
    supported = supported_tags(target)
    described = []
    for wheel in wheels:
        name, version, _build, tags = parse_wheel_filename(wheel.name)
        if not tags & supported:
            raise PackagingError(
                f"wheel {wheel.name} does not fit CPython {target.python_version} on "
                f"{' / '.join(target.platforms)}"
            )
        described.append(
            {
                "file": wheel.name,
                "name": str(name),
                "version": str(version),
                "tags": ".".join(sorted(str(tag) for tag in tags)),
            }
        )
    return described


def supported_tags(target: Target) -> set[Tag]:
    """The wheel tags the target runtime loads (CPython, abi3, pure Python; manylinux <= 2.28)."""
    machine = MACHINES[target.architecture]
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(28, 16, -1)]
    platforms += [f"manylinux2014_{machine}", "linux_" + machine]
    version = tuple(int(part) for part in target.python_version.split("."))
    return set(cpython_tags(version, platforms=platforms)) | set(
        compatible_tags(version, platforms=platforms)
    )


# --- what goes into the zips ---------------------------------------------------------------


def wheel_entries(wheel: Path, trimmed: Trimmed) -> Iterator[Entry]:
    """The files a wheel installs into site-packages, under ``python/``, minus trimmed ones.

    ``<name>.data/purelib`` and ``platlib`` go to site-packages like the rest; ``scripts``,
    ``headers`` and ``data`` have no place in a layer and are dropped.
    """
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
    for info in infos:
        if info.is_dir():
            continue
        path = site_packages_path(info.filename)
        if path is None:
            trimmed.add("wheel scripts, headers and data files", info.file_size)
            continue
        reason = trim_reason(path)
        if reason is not None:
            trimmed.add(reason, info.file_size)
            continue
        yield Entry(LAYER_ROOT + path, info.file_size, (wheel, info.filename))


def site_packages_path(member: str) -> str | None:
    """Where a wheel member lands in site-packages, or None when it lands elsewhere."""
    first, _, rest = member.partition("/")
    if not first.endswith(".data"):
        return member
    scheme, _, inner = rest.partition("/")
    return inner if scheme in ("purelib", "platlib") and inner else None


def trim_reason(path: str) -> str | None:
    """The reason a site-packages path is left out, or None to keep it."""
    for reason, pattern in TRIM_RULES:
        if pattern.search(path):
            return reason
    return None


def code_entries(packages: list[str]) -> Iterator[Entry]:
    """The project's packages as setuptools packages them: .py, .sql and .json files."""
    for package in packages:
        root = REPO / package
        if not (root / "__init__.py").exists():
            raise PackagingError(f"package folder {package}/ has no __init__.py")
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(REPO)
            if (
                path.is_file()
                and path.suffix in CODE_SUFFIXES
                and "__pycache__" not in relative.parts
                and "tests" not in relative.parts
                and not shipped_elsewhere(relative.as_posix())
            ):
                yield Entry(relative.as_posix(), path.stat().st_size, (path, None))


def shipped_elsewhere(relative: str) -> bool:
    """Whether a repository path is in ``NOT_SHIPPED`` (a package or a subpackage)."""
    return any(relative == part or relative.startswith(part + "/") for part in NOT_SHIPPED)


def unique_sorted(entries: Iterable[Entry]) -> list[Entry]:
    """Entries sorted by name; two sources of one path is an error (wheels that overlap)."""
    by_name: dict[str, Entry] = {}
    for entry in entries:
        other = by_name.get(entry.arcname)
        if other is not None:
            raise PackagingError(
                f"{entry.arcname} comes from both {other.source[0].name} and {entry.source[0].name}"
            )
        by_name[entry.arcname] = entry
    return [by_name[name] for name in sorted(by_name)]


# --- writing -------------------------------------------------------------------------------


def write_zip(path: Path, entries: list[Entry]) -> ZipReport:
    """Write ``entries`` to ``path`` deterministically; replaces ``path`` atomically.

    Fixed timestamps, modes and order, no directory entries, no extra fields: the bytes
    depend only on the entries' names and content (and zlib's deflate, which is stable for a
    given zlib version).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with ExitStack() as stack:
        out = stack.enter_context(zipfile.ZipFile(partial, "w"))
        wheels: dict[Path, zipfile.ZipFile] = {}
        for entry in entries:
            info = zipfile.ZipInfo(entry.arcname, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr holds the mode
            info.external_attr = (0o100000 | entry.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, read_entry(entry, wheels, stack), compresslevel=COMPRESS_LEVEL)
    os.replace(partial, path)
    return ZipReport(
        path=path,
        files=len(entries),
        unzipped_bytes=sum(entry.size for entry in entries),
        zipped_bytes=path.stat().st_size,
        sha256=sha256_of(path),
    )


def read_entry(entry: Entry, wheels: dict[Path, zipfile.ZipFile], stack: ExitStack) -> bytes:
    """The content of ``entry``, from its file or its wheel (each wheel opened once)."""
    source, member = entry.source
    if member is None:
        return source.read_bytes()
    archive = wheels.get(source)
    if archive is None:
        archive = stack.enter_context(zipfile.ZipFile(source))
        wheels[source] = archive
    return archive.read(member)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- limits ----------------------------------------------------------------------------------


def check_limits(code: ZipReport, layer: ZipReport) -> list[str]:
    """Refuse what Lambda would refuse; the warnings for what needs an upload through S3."""
    total = code.unzipped_bytes + layer.unzipped_bytes
    say(
        f"unzipped: code {megabytes(code.unzipped_bytes)} + layer "
        f"{megabytes(layer.unzipped_bytes)} = {megabytes(total)} ({total} bytes; Lambda's "
        f"limit for a function and its layers is {UNZIPPED_LIMIT} bytes)"
    )
    if total >= UNZIPPED_LIMIT:
        raise PackagingError(
            f"code + layer unzip to {total} bytes, over Lambda's limit of {UNZIPPED_LIMIT} "
            "bytes for a function and its layers: trim more (TRIM_RULES in infra/package.py) "
            "or deploy a container image (docs/deploy-aws.md, 'When the zips do not fit')"
        )
    if code.zipped_bytes > DIRECT_UPLOAD_LIMIT:
        raise PackagingError(
            f"{display(code.path)} is {code.zipped_bytes} bytes zipped, over the "
            f"{DIRECT_UPLOAD_LIMIT} bytes of a direct upload"
        )
    warnings = []
    if layer.zipped_bytes > DIRECT_UPLOAD_LIMIT:
        warnings.append(
            f"{layer.path.name} is {megabytes(layer.zipped_bytes)} zipped, over the "
            f"{megabytes(DIRECT_UPLOAD_LIMIT)} of a direct upload: publish it through S3 "
            "(infra/examples/aws: artifact_bucket; docs/deploy-aws.md)"
        )
    return warnings


# --- the build -------------------------------------------------------------------------------


def build(
    out: Path, cache: Path, target: Target, *, pin: bool, include_sdk: bool
) -> dict[str, object]:
    """Build both zips and manifest.json in ``out``; the manifest. Idempotent."""
    requirements, packages = project_metadata()
    requirements = runtime_requirements(requirements, include_sdk)
    pins: dict[str, str] = {}
    if pin:
        pins, unpinned = installed_pins(requirements, target)
        say(f"pinned {len(pins)} distributions to the versions installed in {sys.prefix}")
        if unpinned:
            say(f"not installed here, resolved by pip: {', '.join(unpinned)}")
    wheels = download_wheels(requirements, pins, target, cache)
    described = check_wheel_tags(wheels, target)
    for wheel in described:
        say(f"wheel {wheel['file']}")

    trimmed = Trimmed()
    layer_entries = unique_sorted(e for wheel in wheels for e in wheel_entries(wheel, trimmed))
    say(f"zipping the layer: {len(layer_entries)} files")
    layer = write_zip(out / "dependencies.zip", layer_entries)
    say(f"zipping the code: {', '.join(packages)}")
    code = write_zip(out / "pgcdc.zip", unique_sorted(code_entries(packages)))
    for reason, counts in trimmed.as_json().items():
        say(f"trimmed {counts['files']} files, {megabytes(counts['bytes'])}: {reason}")

    warnings = check_limits(code, layer)
    manifest: dict[str, object] = {
        "runtime": f"python{target.python_version}",
        "architecture": target.architecture,
        "code": code.as_json(),
        "layer": layer.as_json(),
        "total_unzipped_bytes": code.unzipped_bytes + layer.unzipped_bytes,
        "limits": {"unzipped_bytes": UNZIPPED_LIMIT, "direct_upload_bytes": DIRECT_UPLOAD_LIMIT},
        "excluded": excluded(include_sdk),
        "wheels": described,
        "trimmed": trimmed.as_json(),
        "warnings": warnings,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for report in (code, layer):
        say(
            f"{report.sha256}  {display(report.path)}  ({megabytes(report.zipped_bytes)} zipped, "
            f"{megabytes(report.unzipped_bytes)} unzipped, {report.files} files)"
        )
    for warning in warnings:
        say(f"WARNING {warning}")
    return manifest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "lambda", help="output folder")
    parser.add_argument(
        "--cache", type=Path, default=REPO / "dist" / "cache", help="wheel cache folder"
    )
    parser.add_argument("--python-version", default="3.12", help="the runtime's Python (3.12)")
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="take the newest versions pyproject.toml allows, not the installed ones",
    )
    parser.add_argument(
        "--include-sdk", action="store_true", help="bundle boto3 instead of the runtime's"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the artefacts; exit 1 with one line when they cannot be built or do not fit."""
    args = parse_args(argv)
    target = Target(python_version=args.python_version, architecture=args.architecture)
    try:
        build(
            args.out.resolve(),
            args.cache.resolve(),
            target,
            pin=not args.no_pin,
            include_sdk=args.include_sdk,
        )
    except PackagingError as exc:
        print(f"package: ERROR {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
