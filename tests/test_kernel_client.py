"""The served snippets run for real: Python and R kernels started by the server, real OAuth."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import httpx2
import pytest
import requests
from conftest import ANALYTICS_ID
from jupyter_client.kernelspec import KernelSpecManager
from kernels import run_code, start_kernel

from jupyter_creds import Client

UNKNOWN = "00000000-0000-4000-8000-000000000000"
CACHE_TTL = 1.0
# Found at import, before pytest-jupyter points the Jupyter paths at temporary directories.
IR_KERNELSPEC = KernelSpecManager().find_kernel_specs().get("ir")


@pytest.fixture
def ir_kernel(jp_data_dir: Path) -> str:
    """IRkernel's kernelspec (Debian's r-cran-irkernel), visible to the test server."""
    assert IR_KERNELSPEC, "IRkernel is not installed: apt-get install r-cran-irkernel"
    shutil.copytree(IR_KERNELSPEC, jp_data_dir / "kernels" / "ir")
    return "ir"


async def snippet(api, language: str, integration_id: str = ANALYTICS_ID) -> str:
    code, data, _ = await api.call(
        "GET", "integrations", integration_id, "snippet", params={"language": language}
    )
    assert code == 200, data
    return data["code"]


PY_USERINFO = """
import httpx2
print("sub:", httpx2.get({issuer!r} + "/userinfo",
      headers={{"Authorization": "Bearer " + access_token}}).json()["sub"])
"""

R_USERINFO = """
h <- curl::new_handle()
curl::handle_setheaders(h, Authorization = paste("Bearer", access_token))
answer <- curl::curl_fetch_memory("{issuer}/userinfo", handle = h)
info <- jsonlite::fromJSON(rawToChar(answer$content))
cat("sub:", info$sub, "\\n")
"""


async def test_python_snippet_in_a_real_kernel(api, sign_in, provider, jp_fetch, jp_serverapp):
    kernel = await start_kernel(jp_fetch, "python3")
    code = await snippet(api, "python")

    # Before sign-in: `credentials` is None
    out, errors = await run_code(
        jp_serverapp, kernel, code + "\nprint('none:', credentials is None)"
    )
    assert not errors, errors
    assert "none: True" in out

    # After sign-in: access_token is set, and the provider accepts it
    await sign_in(ANALYTICS_ID)
    out, errors = await run_code(
        jp_serverapp, kernel, code + PY_USERINFO.format(issuer=provider.issuer)
    )
    assert not errors, errors
    assert "sub: demo-user" in out
    assert os.environ["JUPYTER_CREDS_TOKEN"] not in out

    # An unknown audience raises the typed error, with advice
    out, errors = await run_code(jp_serverapp, kernel, code.replace(ANALYTICS_ID, UNKNOWN))
    assert errors[0]["ename"] == "UnknownIntegrationError"
    assert UNKNOWN in errors[0]["evalue"]


@pytest.mark.r_kernel
async def test_r_snippet_in_a_real_r_kernel(
    ir_kernel, api, sign_in, provider, jp_fetch, jp_serverapp
):
    kernel = await start_kernel(jp_fetch, ir_kernel)
    code = await snippet(api, "r")

    out, errors = await run_code(
        jp_serverapp, kernel, code + "\ncat('none:', is.null(credentials), '\\n')"
    )
    assert not errors, errors
    assert "none: TRUE" in out

    await sign_in(ANALYTICS_ID)
    out, errors = await run_code(
        jp_serverapp, kernel, code + R_USERINFO.format(issuer=provider.issuer)
    )
    assert not errors, errors
    assert "sub: demo-user" in out

    out, errors = await run_code(jp_serverapp, kernel, code.replace(ANALYTICS_ID, UNKNOWN))
    assert errors, out
    assert "no integration" in (errors[0]["evalue"] + out)


def credential_requests(debug_logs) -> int:
    return sum(
        1 for line in debug_logs.lines if "GET /" in line and "api/creds/credentials" in line
    )


@pytest.fixture
def client(api) -> Client:
    # The server started by pytest-jupyter published its URL and the kernel secret
    with Client(cache_ttl=CACHE_TTL) as c:
        yield c


async def test_a_thousand_calls_make_a_handful_of_requests(debug_logs, client, sign_in):
    await sign_in(ANALYTICS_ID)

    def loop() -> set[str]:
        return {client.oauth.get_credentials(ANALYTICS_ID)["access_token"] for _ in range(1000)}

    started = time.monotonic()
    tokens = await asyncio.to_thread(loop)
    elapsed = time.monotonic() - started
    assert len(tokens) == 1
    made = credential_requests(debug_logs)
    assert 1 <= made <= 2 + int(elapsed / CACHE_TTL), made
    print(f"1,000 get_credentials calls: {made} REST requests in {elapsed:.2f} s")


async def test_after_expiry_the_client_gets_the_refreshed_token(client, sign_in, provider):
    provider.token_lifetime = 2
    await sign_in(ANALYTICS_ID)
    first = await asyncio.to_thread(client.oauth.get_credentials, ANALYTICS_ID)
    await asyncio.sleep(max(0.0, first["expiry"].timestamp() - time.time()) + 0.1)
    second = await asyncio.to_thread(client.oauth.get_credentials, ANALYTICS_ID)
    assert second["access_token"] != first["access_token"]
    assert second["expiry"] > first["expiry"]


async def test_after_sign_out_none_within_the_cache_bound(client, sign_in, api):
    await sign_in(ANALYTICS_ID)
    assert await asyncio.to_thread(client.oauth.get_credentials, ANALYTICS_ID)
    assert await api.sign_out(ANALYTICS_ID) == 204
    signed_out_at = time.monotonic()
    while await asyncio.to_thread(client.oauth.get_credentials, ANALYTICS_ID) is not None:
        assert time.monotonic() - signed_out_at < CACHE_TTL + 0.5, "cached past its bound"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("library", ["httpx2", "requests"])
async def test_auth_objects_keep_a_job_authorized_across_expiries(
    client, sign_in, provider, library
):
    provider.token_lifetime = 2
    await sign_in(ANALYTICS_ID)
    auth = client.oauth.auth(ANALYTICS_ID)
    url = provider.issuer + "/userinfo"

    def job() -> tuple[list[int], set[str]]:
        statuses, subjects = [], set()
        session = httpx2.Client(auth=auth, timeout=5) if library == "httpx2" else requests.Session()
        with session:
            deadline = time.monotonic() + 7  # three token lifetimes and more
            while time.monotonic() < deadline:
                resp = (
                    session.get(url)
                    if library == "httpx2"
                    else session.get(url, auth=auth, timeout=5)
                )
                statuses.append(resp.status_code)
                subjects.add(json.loads(resp.text)["sub"] if resp.status_code == 200 else "")
                time.sleep(0.25)
        return statuses, subjects

    statuses, subjects = await asyncio.to_thread(job)
    assert set(statuses) == {200}, statuses
    assert subjects == {"demo-user"}
    assert provider.requests_count("token", "refresh_token") >= 3
