"""A plain HTTP call for target tests: independent of the harness's own client,
so a target test does not depend on the code the harness tests with."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

Reply = tuple[int, Any]


def call(url: str, method: str, path: str, body: Any = None) -> Reply:
    """One request on a fresh connection: (status, parsed JSON body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()
