#!/usr/bin/env python3
"""Case O of bench/run: pulling packages from a connector.

Usage: pull.py BASE_URL ADMIN_KEY COUNT

On one running Wharf: uploads COUNT small distinct packages to feed
'pullsrc' from 8 clients (the direct rate), then pulls the same COUNT into
feed 'pulled' through a connector pointing at 'pullsrc' on the same server
(real HTTP, like any remote), in batches of 100, and waits until every
operation has ended (the pull rate). Prints one JSON object: seconds and
packages for both, and how many pulls failed.
"""
import concurrent.futures
import http.client
import io
import json
import sys
import threading
import time
import urllib.parse
import zipfile

BASE, ADMIN, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
HOST = urllib.parse.urlparse(BASE).netloc
local = threading.local()


def request(method, path, body=None, content_type=None):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(HOST, timeout=600)
    headers = {"X-ApiKey": ADMIN}
    if content_type:
        headers["Content-Type"] = content_type
    local.conn.request(method, path, body=body, headers=headers)
    response = local.conn.getresponse()
    return response.status, response.read()


def package(name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("upack.json", json.dumps({"group": "pulls", "name": name, "version": "1.0.0"}))
        archive.writestr("package/readme.txt", f"{name}\n")
    return buffer.getvalue()


def main():
    # The source feed is public: the connector needs no credentials.
    for feed, public in (("pullsrc", True), ("pulled", False)):
        status, body = request("POST", "/api/management/feeds/create",
                               json.dumps({"name": feed, "feedType": "universal", "allowAnonymousRead": public}),
                               "application/json")
        assert status in (200, 409), body
    status, body = request("POST", "/api/management/connectors/create",
                           json.dumps({"name": "bench-pull", "feed": "pulled", "url": f"{BASE}/upack/pullsrc"}),
                           "application/json")
    assert status in (200, 409), body
    names = [f"pkg-{n:05d}" for n in range(COUNT)]
    bodies = {name: package(name) for name in names}

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for status, body in pool.map(lambda n: request("PUT", "/upack/pullsrc/upload", bodies[n]), names):
            assert status == 201, body
    direct = time.monotonic() - started

    started = time.monotonic()
    ids = []
    for first in range(0, COUNT, 100):
        batch = [{"feed": "pulled", "group": "pulls", "name": n} for n in names[first:first + 100]]
        status, body = request("POST", "/api/operations/pull", json.dumps(batch), "application/json")
        assert status == 202, body
        ids += [op["id"] for op in json.loads(body)]
    failed, waiting, first_error = 0, set(ids), None
    while waiting:
        status, body = request("GET", f"/api/operations?kind=pull&count={COUNT + 100}")
        assert status == 200, body
        listed = {op["id"]: op for op in json.loads(body)}
        for op in list(waiting):
            state = listed.get(op, {}).get("state")
            if state in ("succeeded", "failed"):
                if state == "failed":
                    failed += 1
                    first_error = first_error or listed[op]["error"]["message"]
                waiting.discard(op)
        time.sleep(0.05)
    pulled = time.monotonic() - started
    print(json.dumps({"packages": COUNT, "direct_seconds": round(direct, 3),
                      "pull_seconds": round(pulled, 3), "failed": failed, "first_error": first_error}))


main()
