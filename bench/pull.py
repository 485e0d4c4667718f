#!/usr/bin/env python3
"""Case O of bench/run: pulling packages from a connector.

Usage: pull.py BASE_URL ADMIN_KEY COUNT direct REMOTE_URL
       pull.py BASE_URL ADMIN_KEY COUNT pull REMOTE_URL ROUND ROUNDS

Against the Wharf at BASE_URL, in two calls so that a watcher can measure
the pull alone: `direct` uploads COUNT small distinct packages to its feed
'pullsrc' from 8 clients (the direct rate), then the same packages to feed
'pullsrc' of the Wharf at REMOTE_URL (untimed; both servers take ADMIN_KEY);
`pull` pulls the ROUND-th of ROUNDS equal shares of them (counting from 0)
into feed 'pulled' through a connector pointing at the remote's 'pullsrc'
(real HTTP), in batches of 100, and waits until every operation has ended
(the pull rate), asking every 50 ms whether any is still queued or running;
its `failed` counts every failed pull so far. Each prints one JSON object.
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

BASE, ADMIN, COUNT, PHASE, REMOTE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
local = threading.local()


def request(method, path, body=None, content_type=None, server=BASE):
    connections = local.__dict__.setdefault("connections", {})
    if server not in connections:
        connections[server] = http.client.HTTPConnection(urllib.parse.urlparse(server).netloc, timeout=600)
    headers = {"X-ApiKey": ADMIN}
    if content_type:
        headers["Content-Type"] = content_type
    connections[server].request(method, path, body=body, headers=headers)
    response = connections[server].getresponse()
    return response.status, response.read()


def package(name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("upack.json", json.dumps({"group": "pulls", "name": name, "version": "1.0.0"}))
        archive.writestr("package/readme.txt", f"{name}\n")
    return buffer.getvalue()


def setup():
    # The source feed is public: the connector needs no credentials.
    for server, feed, public in ((BASE, "pullsrc", True), (REMOTE, "pullsrc", True), (BASE, "pulled", False)):
        status, body = request("POST", "/api/management/feeds/create",
                               json.dumps({"name": feed, "feedType": "universal", "allowAnonymousRead": public}),
                               "application/json", server)
        assert status in (200, 409), body
    status, body = request("POST", "/api/management/connectors/create",
                           json.dumps({"name": "bench-pull", "feed": "pulled", "url": f"{REMOTE}/upack/pullsrc"}),
                           "application/json")
    assert status in (200, 409), body


def direct(names):
    bodies = {name: package(name) for name in names}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for status, body in pool.map(lambda n: request("PUT", "/upack/pullsrc/upload", bodies[n]), names):
            assert status == 201, body
    seconds = time.monotonic() - started
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for status, body in pool.map(lambda n: request("PUT", "/upack/pullsrc/upload", bodies[n], None, REMOTE), names):
            assert status == 201, body
    print(json.dumps({"packages": COUNT, "direct_seconds": round(seconds, 3)}))


def count(state):
    status, body = request("GET", f"/api/operations?kind=pull&state={state}&count={COUNT + 100}")
    assert status == 200, body
    return json.loads(body)


def pull(names):
    started = time.monotonic()
    for first in range(0, len(names), 100):
        batch = [{"feed": "pulled", "group": "pulls", "name": n} for n in names[first:first + 100]]
        status, body = request("POST", "/api/operations/pull", json.dumps(batch), "application/json")
        assert status == 202, body
    while True:
        status, body = request("GET", "/api/operations?kind=pull&state=queued&count=1")
        assert status == 200, body
        if not json.loads(body):
            status, body = request("GET", "/api/operations?kind=pull&state=running&count=1")
            assert status == 200, body
            if not json.loads(body):
                break
        time.sleep(0.05)
    pulled = time.monotonic() - started
    failed = count("failed")
    print(json.dumps({"packages": len(names), "pull_seconds": round(pulled, 3), "failed": len(failed),
                      "first_error": failed[0]["error"]["message"] if failed else None}))


def main():
    names = [f"pkg-{n:05d}" for n in range(COUNT)]
    if PHASE == "direct":
        setup()
        direct(names)
    elif PHASE == "pull":
        share, shares = int(sys.argv[6]), int(sys.argv[7])
        pull(names[share * COUNT // shares:(share + 1) * COUNT // shares])
    else:
        sys.exit(f"pull.py: phase must be direct or pull, not {PHASE}")


main()
