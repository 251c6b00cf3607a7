"""Terraform for the infra tests: an offline CLI configuration, scratch copies of infra/,
and a Step Functions shim in front of the moto server.

Every Terraform command runs in a copy of ``infra/`` under a temporary folder, so the
repository never gets a ``.terraform`` folder, a lock file or a state file from the tests.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pgcdc.devtools.localpg import free_port
from tests.harness import S3Server

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


@dataclass
class Terraform:
    """The terraform binary with an offline configuration, run in a scratch copy of infra/."""

    binary: str
    env: dict[str, str]
    workspace: Path
    _initialised: set[Path] = field(default_factory=set)

    def run(
        self, *args: str, cwd: Path, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``terraform ARGS`` in ``cwd``; on failure the assertion shows the output's end."""
        result = subprocess.run(
            [self.binary, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr)[-6000:]
            pytest.fail(f"terraform {' '.join(args)} exited {result.returncode}:\n{output}")
        return result

    def init(self, relative: str) -> Path:
        """``terraform init`` the folder ``infra/<relative>`` of the copy (once); its path."""
        folder = self.workspace / relative
        if folder not in self._initialised:
            self.run("init", "-input=false", "-no-color", cwd=folder, timeout=120)
            self._initialised.add(folder)
        return folder


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    """Terraform set up to install hashicorp/aws from the local mirror, never the network."""
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("the terraform binary is not installed (CI checks that it is)")
    root = tmp_path_factory.mktemp("terraform")
    cache = root / "plugin-cache"  # the 700 MB provider is copied once, then linked
    # Only the example's own endpoints may steer the provider: drop any AWS_ENDPOINT_URL*
    # that another fixture (s3_server) exported for boto3.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")},
        "TF_PLUGIN_CACHE_DIR": str(cache),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    config = root / "terraformrc"
    subprocess.run(
        ["bash", str(INFRA / "tf-offline.sh"), str(config)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    env["TF_CLI_CONFIG_FILE"] = str(config)
    workspace = root / "infra"
    shutil.copytree(
        INFRA,
        workspace,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    yield Terraform(binary, env, workspace)
    # The copies hold links to (or copies of) a 700 MB provider: do not leave them behind.
    shutil.rmtree(root)


class _SfnShimHandler(http.server.BaseHTTPRequestHandler):
    """Answers the Step Functions calls moto lacks; forwards every other request to moto."""

    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    # The AWS provider validates a definition before creating a state machine and lists
    # its versions when reading one; moto 5 implements neither action.
    canned: dict[str, object] = {  # noqa: RUF012 - read-only class table
        "ValidateStateMachineDefinition": {"result": "OK", "diagnostics": []},
        "ListStateMachineVersions": {"stateMachineVersions": []},
    }

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        if action in self.canned:
            answer = json.dumps(self.canned[action]).encode()
            self._reply(200, [("Content-Type", "application/x-amz-json-1.0")], answer)
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(self.command, self.path, body, dict(self.headers.items()))
            response = conn.getresponse()
            data = response.read()
            self._reply(response.status, response.getheaders(), data)
        finally:
            conn.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        hop_by_hop = {"content-length", "transfer-encoding", "connection", "server", "date"}
        for name, value in headers:
            if name.lower() not in hop_by_hop:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the provider's retries would flood the test output."""


@pytest.fixture(scope="session")
def sfn_endpoint(s3_server: S3Server) -> Iterator[str]:
    """URL of a shim that stands in for Step Functions in front of the moto server."""
    target = urlsplit(s3_server.endpoint_url)
    handler = type(
        "SfnShim", (_SfnShimHandler,), {"upstream": (target.hostname or "127.0.0.1", target.port)}
    )
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="sfn-shim", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
