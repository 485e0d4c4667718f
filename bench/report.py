#!/usr/bin/env python3
"""Turns bench/run's raw results into the table (stderr) and results.json (stdout).

Every target is a ratio against a baseline measured in the same run, except
cases F's and P's absolute latency bounds and P's page size, which the issues
state in milliseconds and kilobytes.
"""
import json
import os
import platform
import sys

results_path, quick, duration, connections = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
# "dev": the tests' unoptimised build (bench/run --dev), whose figures judge nothing.
build = sys.argv[5] if len(sys.argv) > 5 else "release"
rows = [json.loads(line) for line in open(results_path)]


def find(backend, case):
    return next(r for r in rows if r["backend"] == backend and r["case"] == case)


def measured(backend, case):
    """Whether this run measured `case` (bench/run --only skips some)."""
    return any(r["backend"] == backend and r["case"] == case for r in rows)


def rps(row):
    wrk = row["wrk"]
    return wrk["requests"] / (wrk["duration_us"] / 1e6)


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def median_rps(backend, case):
    """The median req/s of a case measured in alternating rounds."""
    return median(rps(r) for r in rows if r["backend"] == backend and r["case"] == case)


def rounds_of(backend, case):
    return {r["round"]: r for r in rows if r["backend"] == backend and r["case"] == case}


def round_ratios(backend, case, baseline):
    """req/s of `case` over `baseline`, round by round (each round ran both
    one after the other): what the machine's other load does to one, it
    mostly does to the other."""
    measured_rounds, baseline_rounds = rounds_of(backend, case), rounds_of(backend, baseline)
    return [rps(measured_rounds[n]) / rps(baseline_rounds[n])
            for n in sorted(measured_rounds) if n in baseline_rounds]


def cpu_us_per_request(backend, case):
    """The median, over rounds, of the CPU time Wharf spent per request."""
    return median(r["server_cpu_ticks"] / r["ticks_per_second"] * 1e6 / max(r["wrk"]["requests"], 1)
                  for r in rounds_of(backend, case).values())


def paired(backend, case, baseline):
    """The median of the rounds' ratios, and words on how they spread."""
    ratios = round_ratios(backend, case, baseline)
    words = (f"median of {len(ratios)} alternating rounds' ratios "
             f"(from {min(ratios):.3f} to {max(ratios):.3f})")
    return median(ratios), words


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        mem_kib = 0
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1048576, 1),
            "kernel": platform.release()}


checks = []


def check(backend, case, measure, value, target, ok, detail):
    checks.append({"backend": backend, "case": case, "measure": measure, "value": value,
                   "target": target, "met": ok, "detail": detail})


bad_runs = [r for r in rows if "wrk" in r and r["wrk"]["bad"] > 0]
backends = sorted({r["backend"] for r in rows}, key=lambda b: (b != "sqlite", b))
for b in backends:
    if measured(b, "A.wharf"):
        nginx, wharf = find(b, "A.nginx"), find(b, "A.wharf")
        ratio = rps(wharf) / rps(nginx)
        check(b, "A", "req/s vs nginx", round(ratio, 3), ">= 0.5", ratio >= 0.5,
              f"{rps(wharf):.0f} vs {rps(nginx):.0f} req/s")
        p99 = wharf["wrk"]["p99_us"] / max(nginx["wrk"]["p99_us"], 1)
        check(b, "A", "p99 vs nginx", round(p99, 3), "<= 3", p99 <= 3,
              f"{wharf['wrk']['p99_us'] / 1000:.2f} vs {nginx['wrk']['p99_us'] / 1000:.2f} ms")
    scale = sorted(int(r["case"][2:]) for r in rows
                   if r["backend"] == b and r["case"].startswith("B.") and r["case"][2:].isdigit())
    if scale:
        low, high = find(b, f"B.{scale[0]}"), find(b, f"B.{scale[-1]}")
        growth = high["wrk"]["p50_us"] / max(low["wrk"]["p50_us"], 1)
        check(b, "B", f"p50 at {scale[-1]} vs {scale[0]} versions", round(growth, 3), "<= 1.2", growth <= 1.2,
              f"{high['wrk']['p50_us'] / 1000:.2f} vs {low['wrk']['p50_us'] / 1000:.2f} ms")
        if measured(b, f"B.cold.{scale[-1]}"):
            cold_low, cold_high = find(b, f"B.cold.{scale[0]}"), find(b, f"B.cold.{scale[-1]}")
            check(b, "B.cold", f"uncached latest at {scale[-1]} vs {scale[0]} versions (ms)",
                  round(cold_high["seconds"] * 1000, 2), "report", True,
                  f"{cold_high['seconds'] * 1000:.2f} vs {cold_low['seconds'] * 1000:.2f} ms, median of 5, "
                  "each after an upload emptied the resolve cache")
    if measured(b, "C.keyed"):
        keyed, anonymous = median_rps(b, "C.keyed"), median_rps(b, "C.anonymous")
        auth, spread = paired(b, "C.keyed", "C.anonymous")
        check(b, "C", "keyed vs anonymous req/s", round(auth, 3), ">= 0.95", auth >= 0.95,
              f"{spread}; medians {keyed:.0f} vs {anonymous:.0f} req/s; Wharf's CPU per request "
              f"{cpu_us_per_request(b, 'C.keyed'):.1f} vs {cpu_us_per_request(b, 'C.anonymous'):.1f} us")
    if measured(b, "L.wharf_default"):
        default, warn = median_rps(b, "L.wharf_default"), median_rps(b, "L.wharf_warn")
        nginx_logged = median_rps(b, "L.nginx_logged")
        lines = find(b, "L.log")
        logged, spread = paired(b, "L.wharf_default", "L.wharf_warn")
        check(b, "L", "default logging vs WHARF_LOG=warn req/s", round(logged, 3), ">= 0.95",
              logged >= 0.95,
              f"{spread}; medians {default:.0f} vs {warn:.0f} req/s; Wharf's CPU per request "
              f"{cpu_us_per_request(b, 'L.wharf_default'):.1f} vs {cpu_us_per_request(b, 'L.wharf_warn'):.1f} us")
        against_nginx, spread = paired(b, "L.wharf_default", "L.nginx_logged")
        check(b, "L", "default logging vs nginx with access_log req/s", round(against_nginx, 3),
              ">= 0.9", against_nginx >= 0.9,
              f"{spread}; medians {default:.0f} vs {nginx_logged:.0f} req/s; access lines written: "
              f"Wharf {lines['wharf_lines']}, nginx {lines['nginx_lines']}")
    mib_s = lambda r: r["bytes"] / r["seconds"] / 1048576
    if measured(b, "D.wharf"):
        up_nginx, up_wharf = find(b, "D.nginx"), find(b, "D.wharf")
        upload = up_nginx["seconds"] / up_wharf["seconds"]
        check(b, "D", "upload throughput vs nginx", round(upload, 3), ">= 0.5", upload >= 0.5,
              f"{mib_s(up_wharf):.0f} vs {mib_s(up_nginx):.0f} MiB/s")
        memory = find(b, "D.memory")
        grew = (memory["peak_kib"] - memory["idle_kib"]) / 1024
        check(b, "D", "peak RSS over idle (MiB)", round(grew, 1), "<= 64", grew <= 64,
              f"idle {memory['idle_kib'] / 1024:.0f} MiB, peak {memory['peak_kib'] / 1024:.0f} MiB")
    if measured(b, "E.wharf"):
        down_nginx, down_wharf = find(b, "E.nginx"), find(b, "E.wharf")
        download = down_nginx["seconds"] / down_wharf["seconds"]
        check(b, "E", "download throughput vs nginx", round(download, 3), ">= 0.7", download >= 0.7,
              f"{mib_s(down_wharf):.0f} vs {mib_s(down_nginx):.0f} MiB/s")
    for case in ("F.packages", "F.search"):
        if not measured(b, case):
            continue
        p50 = find(b, case)["wrk"]["p50_us"] / 1000
        check(b, case, "p50 (ms)", round(p50, 2), "<= 20", p50 <= 20,
              "listing cache warm")
        cold = find(b, f"{case}.cold")["seconds"] * 1000
        check(b, f"{case}.cold", "median uncached (ms)", round(cold, 2), "<= 20", cold <= 20,
              "each request's parameters new to the listing cache")

    for case, warm_ms in (("P.feed", 5), ("P.version", 5)):
        if not measured(b, case):
            continue
        p50 = find(b, case)["wrk"]["p50_us"] / 1000
        check(b, case, "p50 (ms)", round(p50, 2), f"<= {warm_ms}", p50 <= warm_ms, "caches warm")
        cold = find(b, f"{case}.cold")["seconds"] * 1000
        check(b, f"{case}.cold", "median uncached (ms)", round(cold, 2), "<= 30", cold <= 30,
              "pages and versions not asked for before")
    if measured(b, "P.size"):
        size = find(b, "P.size")
        largest = max(size["feed_bytes"], size["version_bytes"]) / 1000
        check(b, "P.size", "largest page (KB)", round(largest, 1), "<= 150", largest <= 150,
              f"feed page {size['feed_bytes']} B, version page {size['version_bytes']} B")

    if measured(b, "O.pull"):
        pull = find(b, "O.pull")["pull"]
        direct_rate = pull["packages"] / pull["direct_seconds"]
        pull_rate = pull["packages"] / pull["pull_seconds"]
        check(b, "O.pull", "pulled packages/s vs upload", round(pull_rate / direct_rate, 3), "report",
              pull["failed"] == 0,
              f"{pull_rate:.0f} vs {direct_rate:.0f} packages/s, {pull['packages']} packages, {pull['failed']} failed")
        idle, during = rounds_of(b, "O.idle"), rounds_of(b, "O.during")
        pairs = [(during[n]["wrk"]["p99_us"], idle[n]["wrk"]["p99_us"]) for n in sorted(during) if n in idle]
        growths = [d / max(i, 1) for d, i in pairs]
        growth = median(growths)
        spread = ", ".join(f"{d / 1000:.2f}/{i / 1000:.2f}" for d, i in pairs)
        check(b, "O.during", "download p99 pulling vs idle", round(growth, 3), "<= 2", growth <= 2,
              f"median of {len(pairs)} alternating rounds; ms pulling/idle: {spread}")

    if measured(b, "G.wharf"):
        def median_of(case, field):
            values = sorted(r["burst"][field] for r in rows if r["backend"] == b and r["case"] == case)
            return values[len(values) // 2]
        failed = sum(r["burst"]["failures"] for r in rows if r["backend"] == b and r["case"].startswith("G."))
        nginx_rate, wharf_rate = median_of("G.nginx", "rate"), median_of("G.wharf", "rate")
        check(b, "G", "uploads/s vs nginx PUT", round(wharf_rate / nginx_rate, 3), ">= 0.5",
              wharf_rate / nginx_rate >= 0.5 and failed == 0,
              f"{wharf_rate:.0f} vs {nginx_rate:.0f}/s (medians of 3), p99 {median_of('G.wharf', 'p99_us') / 1000:.1f}"
              f" vs {median_of('G.nginx', 'p99_us') / 1000:.1f} ms, {failed} failed")
        if measured(b, "G.old"):
            old_rate = median_of("G.old", "rate")
            check(b, "G.old", "uploads/s vs old build", round(wharf_rate / old_rate, 3), ">= 2.5",
                  wharf_rate / old_rate >= 2.5 and failed == 0,
                  f"{wharf_rate:.0f} vs {old_rate:.0f}/s, p99 {median_of('G.wharf', 'p99_us') / 1000:.1f}"
                  f" vs {median_of('G.old', 'p99_us') / 1000:.1f} ms")

if measured("postgres", "S.manifest"):
    b = "postgres"
    nginx, wharf = find(b, "S.nginx"), find(b, "S.manifest")
    ratio = rps(wharf) / rps(nginx)
    check(b, "S", "manifest req/s vs nginx (S3)", round(ratio, 3), ">= 0.5", ratio >= 0.5,
          f"{rps(wharf):.0f} vs {rps(nginx):.0f} req/s, blobs in the bucket, logs on")
    mib_s = lambda r: r["bytes"] / r["seconds"] / 1048576
    for way in ("upload", "download"):
        through, direct = find(b, f"S.{way}.wharf"), find(b, f"S.{way}.s3")
        check(b, f"S.{way}", f"{way} vs boto3 on the same S3 server", round(direct["seconds"] / through["seconds"], 3),
              "report", True, f"{mib_s(through):.0f} vs {mib_s(direct):.0f} MiB/s")
    three, spread = paired(b, "S.three", "S.one")
    check(b, "S.three", "3 processes vs 1 behind nginx, req/s", round(three, 3), "report", True,
          f"{spread}; medians {median_rps(b, 'S.three'):.0f} vs {median_rps(b, 'S.one'):.0f} req/s "
          f"on {os.cpu_count()} cores")

width = max(len(c["measure"]) for c in checks)
print(f"\nWharf benchmark ({'quick' if quick else 'full'}: {duration} per case, {connections} connections)", file=sys.stderr)
if build == "dev":
    print("The unoptimised build (--dev): every case ran; its figures say nothing about speed, "
          "so no target is judged.", file=sys.stderr)
print(f"{'backend':9} {'case':11} {'measure':{width}} {'value':>9} {'target':>7}  {'':4} detail", file=sys.stderr)
for c in checks:
    print(f"{c['backend']:9} {c['case']:11} {c['measure']:{width}} {c['value']:>9} {c['target']:>7}  "
          f"{'-' if build == 'dev' else 'met' if c['met'] else 'MISS':4} {c['detail']}", file=sys.stderr)
if bad_runs:
    print(f"\nWARNING: {len(bad_runs)} wrk runs saw errors or non-2xx answers: "
          + ", ".join(f"{r['backend']} {r['case']}" for r in bad_runs), file=sys.stderr)
json.dump({"machine": machine(), "build": build, "quick": quick, "duration": duration, "connections": int(connections),
           "checks": checks, "raw": rows, "runs_with_errors": len(bad_runs)}, sys.stdout, indent=2)
print(file=sys.stdout)
sys.exit(1 if bad_runs else 0)
