#!/usr/bin/env python3
"""Seeds a running Wharf through its public HTTP API for bench/run.

Usage: seed.py BASE_URL ADMIN_KEY STATE_DIR VERSIONS_CSV LIST_PACKAGES BIG_BYTES

Creates feeds 'bench' (private) and 'open' (public), a download-only key,
a virtual package 'manifests/release' (case A), packages 'scale/pkg-N' with
N versions each (case B), LIST_PACKAGES packages in feed 'catalog' (case F),
and writes a BIG_BYTES .upack (cases D/E) to STATE_DIR/big.upack. Prints a
JSON object with what it made (paths, keys) for bench/run.
"""
import concurrent.futures
import http.client
import io
import json
import os
import sys
import threading
import urllib.parse
import zipfile

BASE, ADMIN, STATE = sys.argv[1], sys.argv[2], sys.argv[3]
VERSION_COUNTS = [int(n) for n in sys.argv[4].split(",")]
LIST_PACKAGES = int(sys.argv[5])
BIG_BYTES = int(sys.argv[6])
HOST = urllib.parse.urlparse(BASE).netloc
local = threading.local()


def request(method, path, body=None, key=ADMIN, content_type=None):
    """One request on this thread's keep-alive connection; returns (status, body)."""
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(HOST, timeout=600)
    headers = {"X-ApiKey": key} if key else {}
    if content_type:
        headers["Content-Type"] = content_type
    for attempt in range(3):
        try:
            local.conn.request(method, path, body=body, headers=headers)
            response = local.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            local.conn.close()
            local.conn = http.client.HTTPConnection(HOST, timeout=600)
    raise RuntimeError(f"{method} {path} failed three times")


def expect(status, body, wanted, what):
    if status not in wanted:
        raise SystemExit(f"seeding failed at {what}: {status} {body[:300]!r}")


def upload(feed, body):
    status, text = request("PUT", f"/upack/{feed}/upload", body)
    expect(status, text, (201,), f"upload to {feed}")


def parallel(jobs, workers=8):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in concurrent.futures.as_completed([pool.submit(*job) for job in jobs]):
            future.result()


def vpack(group, name, version):
    return json.dumps({"group": group, "name": name, "version": version,
                       "title": f"{name} {version}", "contents": ["scale/lib:1.0.0"]}).encode()


def small_upack(group, name, version, description):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("upack.json", json.dumps({"group": group, "name": name, "version": version,
                                                   "title": name, "description": description}))
        archive.writestr("package/readme.txt", f"{name} {version}")
    return buffer.getvalue()


def main():
    for feed, public in (("bench", False), ("open", True), ("catalog", True)):
        status, text = request("POST", "/api/management/feeds/create",
                               json.dumps({"name": feed, "feedType": "universal", "allowAnonymousRead": public}).encode(),
                               content_type="application/json")
        expect(status, text, (200, 409), f"feed {feed}")
    status, text = request("POST", "/api/api-keys/create",
                           json.dumps({"type": "Other", "packagePermissions": ["view"], "logging": "None"}).encode(),
                           content_type="application/json")
    expect(status, text, (200,), "download key")
    download_key = json.loads(text)["key"]

    manifest = vpack("manifests", "release", "4.2.0")
    for feed in ("bench", "open"):
        upload(feed, manifest)
    with open(os.path.join(STATE, "manifest.vpack"), "wb") as out:
        out.write(manifest)

    # Case B: packages with N versions each (a stable version among them).
    for count in VERSION_COUNTS:
        name = f"pkg-{count}"
        parallel([(upload, "bench", vpack("scale", name, f"{i // 1000}.{i % 1000}.0")) for i in range(count)])

    # Case F: a catalog of many small packages.
    parallel([(upload, "catalog", small_upack("catalog", f"package-{i:05d}", "1.0.0",
                                              f"Catalog entry number {i}")) for i in range(LIST_PACKAGES)])

    # Cases D/E: one big package, stored (uncompressed) random content.
    big = os.path.join(STATE, "big.upack")
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("upack.json", json.dumps({"name": "big", "version": "1.0.0"}))
        with archive.open("package/blob.bin", "w", force_zip64=True) as entry:
            remaining = BIG_BYTES
            while remaining > 0:
                chunk = min(remaining, 8 << 20)
                entry.write(os.urandom(chunk))
                remaining -= chunk
    print(json.dumps({"download_key": download_key, "big": big}))


main()
