"""Kernels started by the server find it and their secret with no setup."""

from __future__ import annotations

import json

from kernels import run_code, start_kernel


async def test_a_kernel_started_by_rest_can_list_integrations(api, jp_fetch, jp_serverapp):
    kernel_id = await start_kernel(jp_fetch)
    code = """
import json, os, urllib.request
req = urllib.request.Request(os.environ["JUPYTER_CREDS_URL"] + "integrations",
    headers={"Authorization": "Bearer " + os.environ["JUPYTER_CREDS_TOKEN"]})
with urllib.request.urlopen(req, timeout=10) as resp:
    print(json.dumps(sorted(i["name"] for i in json.load(resp)["integrations"])))
"""
    out, errors = await run_code(jp_serverapp, kernel_id, code)
    assert not errors, errors
    assert json.loads(out.strip().splitlines()[-1]) == ["analytics", "legacy-crm", "warehouse"]
