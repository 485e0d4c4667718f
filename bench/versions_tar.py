#!/usr/bin/env python3
"""Writes to stdout a tar stream of COUNT virtual packages, versions of one
package GROUP/NAME, for `wharf import FEED -` (bench/run case B at sizes the
HTTP seeding would take too long for).
Usage: versions_tar.py GROUP NAME COUNT
The versions are i // 1000 . i % 1000 . 0, as bench/seed.py's, so the latest
is (COUNT - 1) // 1000 . (COUNT - 1) % 1000 . 0.
"""
import io
import json
import sys
import tarfile

group, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as archive:
    for i in range(count):
        version = f"{i // 1000}.{i % 1000}.0"
        body = json.dumps({"group": group, "name": name, "version": version,
                           "title": f"{name} {version}", "contents": ["scale/lib:1.0.0"]}).encode()
        info = tarfile.TarInfo(f"{name}-{version}.vpack")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
