"""Transform and load under real process death: named fault points, then random SIGKILLs.

One input for the whole module (``ROUNDS`` rounds of demo workload, each followed by a
capture; a copy of the raw store per round) and its clean run (no crash) on both warehouses.
Every crashed run is compared with that clean run: the whole warehouse (every table, every
row), the processed store (every object, same name, same content, nothing more), and the
facts' current views with the source tables.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgcdc.schemas.faults import CRASH_EXIT_CODE, Point
from pgcdc.storage import Store, open_store
from pgcdc.transformer.runner import transform
from tests.harness import PgServer
from tests.integration.capture_support import pgcdc
from tests.integration.stage_crash_support import (
    ROUNDS,
    CleanRun,
    Input,
    StageProcess,
    assert_final_warehouse,
    assert_processed_equal,
    batch_objects,
    capture_rounds,
    clean_run,
    dangling,
    duplicate_versions,
    hidden_leftovers,
    loaded_run,
    manifests,
    masked,
    open_write_transactions,
    orphans,
    pipeline,
    stage_env,
)
from tests.integration.warehouse_support import Pipeline, warehouse_digest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def source(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Input]:
    """The demo source captured in ``ROUNDS`` rounds (shared by every test here)."""
    name = pg_server.create_database("crashsrc")
    slot = f"crash_rounds_{uuid.uuid4().hex[:8]}"  # per cluster: unique on a shared one
    yield capture_rounds(pg_server.dsn(name), slot, tmp_path_factory.mktemp("input"))
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def clean(
    source: Input, pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CleanRun]:
    """The input transformed and loaded without a crash, into both warehouses."""
    folder = tmp_path_factory.mktemp("clean")
    name = pg_server.create_database("crashref")
    yield clean_run(
        source, folder, {"duckdb": str(folder / "clean.duckdb"), "postgres": pg_server.dsn(name)}
    )
    pg_server.drop_database(name)


def _kind(warehouse_uri: str) -> str:
    return "duckdb" if warehouse_uri.endswith(".duckdb") else "postgres"


def _crash(p: Pipeline, command: str, fault: str, raw_round: int, source: Input) -> None:
    """Run a stage with ``PGCDC_FAULT=fault``; it must die there with the crash exit code."""
    env = stage_env(p, source.raws[raw_round - 1])
    done = pgcdc(command, "--log-format", "json", env={**env, "PGCDC_FAULT": fault})
    assert done.returncode == CRASH_EXIT_CODE, f"{fault}: {done.returncode} {done.stderr[-3000:]}"
    assert f"injected crash at {fault.split(':', maxsplit=1)[0]}" in done.stderr


def test_transform_dies_at_each_fault_point_and_the_rerun_ends_as_the_clean_run(
    source: Input, clean: CleanRun, tmp_path: Path, pg_warehouse_dsn: str
) -> None:
    """Batch 1: the transformer dies after its third object; batch 2: after every object,
    before the manifest; batch 3: after the manifest. Each crash leaves what it should
    (objects without a manifest, or the manifest); each rerun rewrites the same objects, so
    the processed store ends object for object as the clean run's, and so do both
    warehouses loaded from it."""
    processed = open_store(str(tmp_path / "processed"))
    p = pipeline(source, processed, str(tmp_path / "warehouse.duckdb"))

    _crash(p, "transform", f"{Point.TRANSFORM_OBJECT}:3", 1, source)
    assert not manifests(processed) and len(orphans(processed)) >= 3
    assert transform(source.raws[0], processed, slot=source.slot).run == 1
    assert not orphans(processed), "the rerun wrote its objects under other names"

    _crash(p, "transform", Point.TRANSFORM_BEFORE_MANIFEST, 2, source)
    assert sorted(manifests(processed)) == [1]
    assert masked(orphans(processed)) == batch_objects(clean.processed, 2)
    assert transform(source.raws[1], processed, slot=source.slot).run == 2
    assert not orphans(processed), "the rerun wrote its objects under other names"

    _crash(p, "transform", Point.TRANSFORM_AFTER_MANIFEST, 3, source)
    assert sorted(manifests(processed)) == [1, 2, 3]
    assert transform(source.raws[2], processed, slot=source.slot).run is None

    assert not dangling(processed) and not hidden_leftovers(processed)
    assert_processed_equal(processed, clean.processed, up_to=3)
    for kind, uri in (("duckdb", p.warehouse_uri), ("postgres", pg_warehouse_dsn)):
        loaded = pipeline(source, processed, uri)
        assert loaded.load().batches == 3
        assert warehouse_digest(loaded) == clean.digests[kind][3], kind
        assert not any(duplicate_versions(loaded).values())


def test_load_dies_at_each_fault_point_and_the_rerun_ends_as_the_clean_run(
    source: Input, clean: CleanRun, warehouse_uri: str
) -> None:
    """The clean run's six batches loaded into a fresh warehouse by processes that die:
    inside batch 1's transaction after its third output (tables created in it too); just
    before committing batch 2 (batch 1 committed by the same process); after committing
    batch 3 with 4 to 6 pending (batch 2 committed by the same process). After each crash
    the warehouse is exactly the clean one after its last committed batch; the rerun loads
    the rest in one go and ends as the clean run, the current views as the source."""
    kind = _kind(warehouse_uri)
    want = clean.digests[kind]
    p = pipeline(source, clean.processed, warehouse_uri)  # the loader only reads the store
    for fault, committed in (
        (f"{Point.LOAD_OUTPUT}:3", 0),
        (f"{Point.LOAD_BEFORE_COMMIT}:2", 1),
        (f"{Point.LOAD_AFTER_COMMIT}:2", 3),
    ):
        _crash(p, "load", fault, ROUNDS, source)
        assert loaded_run(p) == committed, fault
        assert warehouse_digest(p) == want[committed], f"{fault}: not the clean warehouse"
    assert p.load().batches == ROUNDS - 3
    assert_final_warehouse(p, want[ROUNDS])


SEED = 20261203
KILLS = 10


@dataclass
class Kill:
    """One SIGKILL: which process, when, and what it interrupted."""

    step: str
    delay: float
    landed: str


@dataclass
class KillRun:
    """A run of rounds in which transform and load processes are started and killed."""

    source: Input
    clean: CleanRun
    processed: Store
    pipes: dict[str, Pipeline]
    rng: random.Random
    kills: list[Kill]
    missed: int = 0
    """Attempts whose process ended before its kill (their work done, the kill carried on)."""

    def transform_attempt(self, k: int, *, at_first_object: bool = False) -> bool:
        """Start ``pgcdc transform`` on round ``k``'s raw store, SIGKILL it a random moment
        after it began (or, ``at_first_object``, as soon as its first object is written);
        False if it ended first (then its batch is done)."""
        tmp_before = len(hidden_leftovers(self.processed))
        proc = StageProcess("transform", stage_env(self.pipes["duckdb"], self.source.raws[k - 1]))
        proc.wait_for("transform: batch")
        if at_first_object:
            began = time.monotonic()
            while not orphans(self.processed) and proc.proc.poll() is None:
                time.sleep(0.002)
            delay = time.monotonic() - began
        else:
            delay = self.rng.uniform(0, self.clean.transform_seconds[k])
            time.sleep(delay)
        if not proc.kill():
            assert proc.proc.returncode == 0, "".join(proc.raw_lines)[-3000:]
            self.missed += 1
            return False
        assert not dangling(self.processed), "a manifest lists objects that are not there"
        done = manifests(self.processed)
        assert max(done, default=0) <= k
        left = orphans(self.processed)
        if k in done:
            landed = "transform: after its manifest"
        elif left:
            landed = "transform: objects written, no manifest"
        else:
            landed = "transform: before its first object"
        tmp = len(hidden_leftovers(self.processed)) > tmp_before  # cut between write and rename
        self.kills.append(
            Kill(f"transform {k}", delay, landed + (" (+ a temp file)" if tmp else ""))
        )
        return True

    def load_attempt(self, kind: str) -> bool:
        """Start ``pgcdc load`` into one warehouse, SIGKILL it a random moment after it
        began its first batch; False if it ended first (then every batch is loaded)."""
        p = self.pipes[kind]
        pending = [b for b in manifests(self.processed) if b > loaded_run(p)]
        work = sum(self.clean.load_seconds[kind][b] for b in pending)
        probe = psycopg.connect(p.warehouse_uri, autocommit=True) if kind == "postgres" else None
        proc = StageProcess("load", stage_env(p, self.source.raws[-1]))
        proc.wait_for("load: applying batch")
        delay = self.rng.uniform(0, work)
        time.sleep(delay)
        writing = open_write_transactions(probe) if probe else None
        killed = proc.kill()
        if probe:
            probe.close()
        if not killed:
            assert proc.proc.returncode == 0, "".join(proc.raw_lines)[-3000:]
            self.missed += 1
            return False
        after = loaded_run(p)
        assert warehouse_digest(p) == self.clean.digests[kind][after], (
            f"after a kill the {kind} warehouse is not the clean one after batch {after}"
        )
        started = [int(m.rsplit(" ", 1)[-1]) for m in proc.messages if "applying batch" in m]
        if not started:
            landed = "load: before its first batch"
        elif started[-1] > after:
            landed = "load: inside a batch, uncommitted"
        else:
            landed = "load: after a commit"
        if writing:
            landed += " (open write transaction seen)"
        self.kills.append(Kill(f"load {kind} {pending}", delay, landed))
        return True


WINDOW = "transform: objects written, no manifest"


def _landed(run: KillRun, where: str) -> bool:
    return any(kill.landed.split(" (")[0] == where for kill in run.kills)


def _plan(rng: random.Random) -> list[tuple[int, str]]:
    """The steps of the run: each round's transform, then the loads the RNG picks (every
    warehouse loads in the last round), each step a process that may be killed."""
    steps = []
    for k in range(1, ROUNDS + 1):
        steps.append((k, "transform"))
        steps += [(k, kind) for kind in ("duckdb", "postgres") if k == ROUNDS or rng.random() < 0.5]
    return steps


def test_ten_sigkills_in_a_six_batch_run_end_as_the_clean_run(
    source: Input, clean: CleanRun, tmp_path: Path, pg_warehouse_dsn: str
) -> None:
    """Transform and load (both warehouses, from one processed store) SIGKILLed ten times
    at random moments while they work, over six batches; each killed step is then
    completed. After each kill: no manifest lists a missing object, and the warehouse is
    exactly the clean one after its last committed batch. At the end: the processed store
    object for object and both warehouses table for table equal the clean run's, no fact
    version is held twice, and the current views equal the source."""
    rng = random.Random(SEED)
    processed = open_store(str(tmp_path / "processed"))
    run = KillRun(
        source,
        clean,
        processed,
        {
            "duckdb": pipeline(source, processed, str(tmp_path / "warehouse.duckdb")),
            "postgres": pipeline(source, processed, pg_warehouse_dsn),
        },
        rng,
        [],
    )
    steps = _plan(rng)
    transforms = [i for i, s in enumerate(steps) if s[1] == "transform"]
    loads = [i for i, s in enumerate(steps) if s[1] != "transform"]
    planned = Counter(rng.sample(transforms, 3) + rng.sample(loads, 3))
    planned.update(rng.choices(range(len(steps)), k=KILLS - 6))
    owed = aimed = 0
    for index, (k, stage) in enumerate(steps):
        owed += planned[index]
        while owed and (
            run.transform_attempt(k) if stage == "transform" else run.load_attempt(stage)
        ):
            owed -= 1
        # Random moments may all miss the short window between a transform's first object
        # and its manifest (more so on a loaded machine): until one kill has landed there,
        # each round adds one kill aimed at it.
        if stage == "transform" and not _landed(run, WINDOW) and not orphans(processed):
            aimed += run.transform_attempt(k, at_first_object=True)
        if stage == "transform":
            transform(source.raws[k - 1], processed, slot=source.slot)
        else:
            run.pipes[stage].load()
    landed = Counter(kill.landed.split(" (")[0] for kill in run.kills)
    print(f"\n{len(run.kills)} kills ({run.missed} attempts ended first): {dict(landed)}")
    for kill in run.kills:
        print(f"  {kill.step}: after {kill.delay:.2f} s: {kill.landed}")
    assert len(run.kills) == KILLS + aimed, f"only {len(run.kills)} kills hit a running process"
    assert landed[WINDOW] >= 1, landed
    assert landed["load: inside a batch, uncommitted"] >= 1, landed

    assert_processed_equal(processed, clean.processed)
    for kind, p in run.pipes.items():
        assert_final_warehouse(p, clean.digests[kind][ROUNDS])
