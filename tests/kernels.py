"""Run code in a real kernel that the Jupyter server started (through its REST API)."""

from __future__ import annotations

import json


async def start_kernel(jp_fetch, name: str = "python3") -> str:
    resp = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": name}))
    return json.loads(resp.body)["id"]


async def run_code(
    jp_serverapp, kernel_id: str, code: str, timeout: float = 60
) -> tuple[str, list[dict]]:
    """Execute ``code``; return (stdout + display text, error outputs)."""
    km = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    client = km.client()
    client.start_channels()
    out: list[str] = []
    errors: list[dict] = []

    def hook(msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            out.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            errors.append(content)

    try:
        await client.wait_for_ready(timeout=timeout)
        await client.execute_interactive(code, output_hook=hook, timeout=timeout)
    finally:
        client.stop_channels()
    return "".join(out), errors
