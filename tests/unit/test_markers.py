"""tests/conftest.py's rule on test kinds, run by pytest on sample tests (no service starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit

CONFTEST = "from tests.conftest import *  # noqa: F403 - the rule and fixtures under test\n"
INI = """
[pytest]
markers =
    unit: u
    integration: i
    e2e: e
"""


@pytest.fixture
def sample(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def test_unmarked_tests_get_their_kind_from_their_fixtures(sample: pytest.Pytester) -> None:
    sample.makepyfile(
        test_kinds="""
        def test_pure():
            assert 1 + 1 == 2

        def test_on_postgres(pg_dsn):
            pass

        def test_on_a_fixture_built_on_s3(s3_location):
            pass
        """
    )
    sample.makeconftest(
        CONFTEST + "import pytest\n@pytest.fixture\ndef s3_location(s3_bucket): ...\n"
    )
    unit = sample.runpytest("--collect-only", "-q", "-m", "unit")
    assert unit.ret == pytest.ExitCode.OK
    assert [line for line in unit.outlines if "::" in line] == ["test_kinds.py::test_pure"]
    other = sample.runpytest("--collect-only", "-q", "-m", "integration")
    assert [line for line in other.outlines if "::" in line] == [
        "test_kinds.py::test_on_postgres",
        "test_kinds.py::test_on_a_fixture_built_on_s3",
    ]


def test_a_unit_test_on_a_service_fixture_stops_the_collection(sample: pytest.Pytester) -> None:
    sample.makepyfile(
        """
        import pytest

        @pytest.mark.unit
        def test_claims_unit(pg_dsn):
            pass

        @pytest.mark.unit
        @pytest.mark.integration
        def test_both():
            pass
        """
    )
    result = sample.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*tests of the wrong kind:",
            "*test_claims_unit: marked unit but uses pg_dsn, pg_server",
            "*test_both: marked integration and unit; pick one",
        ]
    )


def test_a_unit_test_reaching_a_service_at_run_time_fails(sample: pytest.Pytester) -> None:
    sample.makepyfile(
        """
        import pytest
        from pgcdc.devtools.localpg import LocalCluster

        pytestmark = pytest.mark.unit

        def test_asks_at_run_time(request):
            request.getfixturevalue("s3_bucket")

        def test_starts_a_cluster(tmp_path):
            LocalCluster(tmp_path / "pg").ensure_running()
        """
    )
    result = sample.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*unit test *test_asks_at_run_time uses the service fixture s3_*: mark it integration",
            "*unit test *test_starts_a_cluster starts a PostgreSQL cluster: mark it integration",
        ]
    )


@pytest.fixture
def workers(sample: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Options running the sample on two xdist workers (as `make test` does), which import
    tests.conftest from this repository."""
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return ["-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-v"]


def test_the_rules_hold_on_xdist_workers(sample: pytest.Pytester, workers: list[str]) -> None:
    sample.makepyfile(
        test_wrong_kind="""
        import pytest

        @pytest.mark.unit
        def test_claims_unit(pg_dsn):
            pass
        """,
        test_at_run_time="""
        import pytest
        from pgcdc.devtools.localpg import LocalCluster

        pytestmark = pytest.mark.unit

        def test_asks_at_run_time(request):
            request.getfixturevalue("s3_bucket")

        def test_starts_a_cluster(tmp_path):
            LocalCluster(tmp_path / "pg").ensure_running()

        def test_pure():
            assert 1 + 1 == 2
        """,
        test_shared="""
        import pytest

        @pytest.fixture(scope="module")
        def costly():
            return object()

        @pytest.mark.parametrize("n", range(6))
        def test_on_costly(costly, n):
            pass

        @pytest.mark.parametrize("n", range(6))
        def test_alone(n):
            pass
        """,
    )
    result = sample.runpytest_subprocess(*workers)
    # the wrong kind errors at set-up, before pg_dsn's server would start
    result.assert_outcomes(errors=1, failed=2, passed=13)
    # the tests on the module-scoped fixture ran on one worker, so it was built once; which
    # worker takes which test depends on timing, so also check xdist's mark of the group (the
    # suffix of the node id), whatever the timing
    on_costly = [
        line for line in result.outlines if "PASSED test_shared.py::test_on_costly" in line
    ]
    assert len(on_costly) == 6, result.outlines
    assert len({line.split("]", 1)[0] for line in on_costly}) == 1, on_costly
    assert all(line.rstrip().endswith("@test_shared.py") for line in on_costly), on_costly
    result.stdout.fnmatch_lines_random(
        [
            "*test_claims_unit: marked unit but uses pg_dsn, pg_server*",
            "*unit test *test_asks_at_run_time uses the service fixture s3_*: mark it integration",
            "*unit test *test_starts_a_cluster starts a PostgreSQL cluster: mark it integration",
        ]
    )
