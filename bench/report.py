#!/usr/bin/env python3
"""Helpers of bench/run (standard library only).

  report.py env                      machine and version facts, as JSON
  report.py timed OUT CMD ARGS...    run CMD, stderr to OUT plus its CPU seconds
  report.py combine OUT A B ...      one result from two concurrent consume runs
  report.py markdown --results DIR --out FILE --plots DIR --runs N --quick 0|1
                                     docs/BENCHMARKS.md from the results of a run
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

# The targets (issue 5), checked in the summary.
TARGET_PRODUCE_CPU_S_PER_GB = 0.6
TARGET_CONSUME_CPU_S_PER_GB = 0.15
TARGET_PRODUCE_VS_PEER = 3.0
TARGET_CONSUME_VS_PEER = 2.0
TARGET_E2E_P99_US = 1000.0
TARGET_E2E_P999_US = 3000.0

PEER_NAMES = {"redis": "Redis Streams", "nats": "NATS JetStream"}


def sh(cmd):
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip()
    except Exception:  # a missing tool is just an unknown fact here
        return ""


def loadavg_now():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def loadavg_end(res):
    """As bench/run noted it when the last case finished; now, failing that."""
    try:
        with open(os.path.join(res, "loadavg-end.txt")) as f:
            return f.read().strip()
    except OSError:
        return loadavg_now()


def cmd_env(_args):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    dirty = sh("git status --porcelain -- src | wc -l")
    env = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kib / 1048576, 1),
        "filesystem": sh("df -T build | awk 'NR==2 {print $2}'"),
        "gregor_commit": sh("git rev-parse --short HEAD")
        + (" + uncommitted changes in src/" if dirty not in ("", "0") else ""),
        "librdkafka": sh("pkg-config --modversion rdkafka"),
        "redis": sh("redis-server --version | awk '{print $3}' | sed 's/v=//'"),
        "nats": sh("nats-server --version"),
        "hiredis": sh("dpkg-query -W -f='${Version}' libhiredis-dev"),
        "libnats": sh("dpkg-query -W -f='${Version}' libnats-dev"),
        "iperf3": sh("iperf3 --version | head -1"),
        "loadavg_start": loadavg_now(),
    }
    json.dump(env, sys.stdout, indent=1)
    print()


def cmd_timed(args):
    """Runs a command with its stderr sent to a file, then appends the CPU
    seconds (user + system) it used as a last line "cpu_s=N"."""
    import resource
    with open(args.out, "w") as err:
        rc = subprocess.run(args.command, stderr=err).returncode
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(args.out, "a") as f:
        f.write(f"cpu_s={ru.ru_utime + ru.ru_stime:.3f}\n")
    return rc


def cmd_combine(args):
    parts = []
    for p in args.inputs:
        try:
            with open(p) as f:
                parts.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"combine: {p}: {e}", file=sys.stderr)
            return 1
    records = sum(p["records"] for p in parts)
    nbytes = sum(p["bytes"] for p in parts)
    seconds = max(p["seconds"] for p in parts)
    cpu = (args.cpu_ticks[1] - args.cpu_ticks[0]) / args.hz
    out = {
        "tool": "gregor",
        "mode": "consume-fanout",
        "params": dict(parts[0]["params"], readers=str(len(parts))),
        "records": records,
        "bytes": nbytes,
        "errors": sum(p["errors"] for p in parts),
        "seconds": seconds,
        "mb_per_s": nbytes / 1e6 / seconds if seconds > 0 else 0,
        "records_per_s": records / seconds if seconds > 0 else 0,
        "latency_us": None,
        "server": {
            "pid": args.pid,
            "cpu_s": cpu,
            "cpu_s_per_gb": cpu / (nbytes / 1e9) if nbytes else None,
            "peak_rss_kib": args.hwm_kib,
        },
        "client_cpu_s": sum(p["client_cpu_s"] for p in parts),
        "per_reader_mb_per_s": [p["mb_per_s"] for p in parts],
    }
    with open(args.out, "w") as f:
        json.dump(out, f)
        f.write("\n")
    return 0


# ---------------------------------------------------------------- markdown


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and abs(v) >= 1000 and digits <= 1:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def fmt_us(us):
    if us is None:
        return "–"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1e6:.2f} s"


def add(a, b):
    return None if a is None or b is None else a + b


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


class Case:
    def __init__(self, cid, tool, title, command, results_dir, runs):
        self.id, self.tool, self.title, self.command = cid, tool, title, command
        self.runs = []
        for r in range(1, runs + 1):
            d = load_json(os.path.join(results_dir, f"{cid}.{r}.json"))
            if d is not None:
                try:
                    with open(os.path.join(results_dir, f"{cid}.{r}.load")) as f:
                        d["load"] = float(f.read().strip())
                except (OSError, ValueError):
                    pass
                vm = read_vm_marks(os.path.join(results_dir, f"{cid}.{r}.vm"))
                d["page_cache_dropped"] = page_cache_dropped(vm)
                d["kswapd_s"] = kswapd_seconds(vm)
                self.runs.append(d)
        self.planned = runs

    def med(self, getter):
        vals = []
        for r in self.runs:
            try:
                vals.append(getter(r))
            except (KeyError, TypeError):
                vals.append(None)
        return median(vals)

    @property
    def ok(self):
        return bool(self.runs)

    def mbps(self):
        return self.med(lambda r: r["mb_per_s"])

    def rps(self):
        return self.med(lambda r: r["records_per_s"])

    def lat(self, key):
        return self.med(lambda r: r["latency_us"][key])

    def cpu_gb(self):
        return self.med(lambda r: r["server"]["cpu_s_per_gb"])

    def rss_mib(self):
        v = self.med(lambda r: r["server"]["peak_rss_kib"])
        return None if v is None else v / 1024

    def client_cpu(self):
        return self.med(lambda r: r["client_cpu_s"])

    def load(self):
        return self.med(lambda r: r["load"])

    def has_latency(self):
        return any(r.get("latency_us") for r in self.runs)

    def kswapd_gb(self):
        """CPU-s of the kernel's reclaim threads per GB moved (see bench/run's note_vm)."""
        return self.med(lambda r: r["kswapd_s"] / (r["bytes"] / 1e9))

    def dropped_runs(self):
        return [i + 1 for i, r in enumerate(self.runs) if r.get("page_cache_dropped")]

    def lost(self):
        return sum(max(0, r["records"] - r.get("consumed", r["records"])) for r in self.runs)


def read_vm_marks(path):
    """bench/run's lines "start|end DROP_PAGECACHE MEMFREE_MIB KSWAPD_TICKS"
    around a run, as {"start": [...], "end": [...]}."""
    try:
        with open(path) as f:
            return {parts[0]: parts[1:] for parts in (line.split() for line in f) if len(parts) >= 2}
    except OSError:
        return {}


def page_cache_dropped(vm):
    """Whether /proc/vmstat's drop_pagecache count moved during the run."""
    return "start" in vm and "end" in vm and vm["start"][0] != vm["end"][0]


def kswapd_seconds(vm):
    try:
        return (int(vm["end"][2]) - int(vm["start"][2])) / os.sysconf("SC_CLK_TCK")
    except (KeyError, IndexError, ValueError):
        return None


def read_warmup(path):
    """bench/run's warm-up line "mib=N seconds=S margin_mib=M", as a dict."""
    try:
        with open(path) as f:
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in f.read().split())}
    except (OSError, ValueError):
        return None


def read_dd(path):
    """(bytes per second, CPU s per GB) from dd's last line 'N bytes (...)
    copied, S s, ...' and the cpu_s line report.py timed adds."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    m = re.search(r"^(\d+) bytes.*copied, ([\d.,]+) s", text, re.M)
    if not m:
        return None, None
    nbytes = int(m.group(1))
    secs = float(m.group(2).replace(",", "."))
    c = re.search(r"^cpu_s=([\d.]+)", text, re.M)
    cpu_gb = float(c.group(1)) / (nbytes / 1e9) if c and nbytes else None
    return (nbytes / secs if secs > 0 else None), cpu_gb


def read_iperf(path):
    """(bytes per second, sender CPU s/GB, receiver CPU s/GB)."""
    d = load_json(path)
    try:
        s = d["end"]["sum_received"]
        cpu = d["end"]["cpu_utilization_percent"]
        gb = s["bytes"] / 1e9
        return (s["bits_per_second"] / 8, cpu["host_total"] / 100 * s["seconds"] / gb,
                cpu["remote_total"] / 100 * s["seconds"] / gb)
    except (TypeError, KeyError, ZeroDivisionError):
        return None, None, None


# ---------------------------------------------------------------- SVG


def svg_spectrum(case, path, target_ms=None):
    """Latency by percentile, one line per run, x on the usual HDR scale
    (each step one more nine), y linear in milliseconds."""
    import math

    W, H, L, R, T, B = 640, 360, 64, 16, 36, 48
    series = []
    for r in case.runs:
        lat = r.get("latency_us")
        if lat and lat.get("spectrum"):
            series.append(lat["spectrum"])
    if not series:
        return False
    xmax = 5.4  # 99.999% is 5 nines; "max" is drawn a little to the right

    def xpos(p):
        if p >= 100:
            n = xmax
        else:
            n = min(5.0, -math.log10(1 - p / 100))
        return L + (W - L - R) * n / xmax

    ymax_ms = max(v for s in series for _, v in s) / 1000 * 1.08 or 1
    if target_ms:
        ymax_ms = max(ymax_ms, target_ms * 1.2)
    # A round tick step giving 4 to 8 ticks.
    step = 10 ** (math.floor(math.log10(ymax_ms)) - 1)
    for m in (1, 2, 5, 10):
        if ymax_ms / (step * m) <= 8:
            step *= m
            break
    ymax_ms = math.ceil(ymax_ms / step) * step

    def ypos(ms):
        return T + (H - T - B) * (1 - ms / ymax_ms)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{L}" y="20" font-size="14">{esc(case.title)}</text>',
    ]
    y = 0.0
    while y <= ymax_ms + 1e-9:
        yy = ypos(y)
        out.append(f'<line x1="{L}" y1="{yy:.1f}" x2="{W - R}" y2="{yy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{yy + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    for p, label in ((0, "0%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"), (99.99, "99.99%"),
                     (99.999, "99.999%"), (100, "max")):
        xx = xpos(p)
        out.append(f'<line x1="{xx:.1f}" y1="{T}" x2="{xx:.1f}" y2="{H - B}" stroke="#eee"/>')
        out.append(f'<text x="{xx:.1f}" y="{H - B + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">percentile</text>')
    out.append(f'<text x="14" y="{(T + H - B) / 2}" transform="rotate(-90 14 {(T + H - B) / 2})" '
               f'text-anchor="middle">latency (ms)</text>')
    if target_ms:
        yy = ypos(target_ms)
        out.append(f'<line x1="{L}" y1="{yy:.1f}" x2="{W - R}" y2="{yy:.1f}" stroke="#c00" '
                   f'stroke-dasharray="6 4"/>')
        out.append(f'<text x="{L + 6}" y="{yy - 5:.1f}" fill="#c00">target p99 {target_ms:g} ms</text>')
    colours = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, s in enumerate(series):
        pts = " ".join(f"{xpos(p):.1f},{ypos(v / 1000):.1f}" for p, v in s)
        out.append(f'<polyline fill="none" stroke="{colours[i % len(colours)]}" stroke-width="1.5" '
                   f'points="{pts}"/>')
        out.append(f'<text x="{W - R - 4}" y="{T + 14 + 14 * i}" text-anchor="end" '
                   f'fill="{colours[i % len(colours)]}">run {i + 1}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return True


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------- the document


def cmd_markdown(args):
    res = args.results
    env = load_json(os.path.join(res, "env.json")) or {}
    cases = []
    with open(os.path.join(res, "cases.tsv")) as f:
        for line in f:
            if not line.strip():
                continue
            cid, tool, title, command = line.rstrip("\n").split("\t", 3)
            cases.append(Case(cid, tool, title, command.replace("\\n", "\n"), res, args.runs))
    by_id = {c.id: c for c in cases}
    try:
        with open(os.path.join(res, "peers.txt")) as f:
            peers_ok = [p.strip() for p in f if p.strip()]
    except OSError:
        peers_ok = []

    iperf = read_iperf(os.path.join(res, "iperf3.json"))
    iperf_z = read_iperf(os.path.join(res, "iperf3-Z.json"))
    dd = {k: read_dd(os.path.join(res, f"dd-{k}.txt"))
          for k in ("cache-write", "cache-write-warm", "cache-read", "disk-fdatasync")}
    warmup = read_warmup(os.path.join(res, "warmup.txt"))
    # Produce is compared with the page-cache write the cases ran against:
    # the recycled-page one when the page cache was filled first.
    cache_write_key = "cache-write-warm" if warmup and dd["cache-write-warm"][0] else "cache-write"
    limits = {
        "loopback": iperf[0],
        "cache_write": dd[cache_write_key][0],
        "cache_read": dd["cache-read"][0],
        "disk_sync": dd["disk-fdatasync"][0],
    }

    def g(cid):
        c = by_id.get(cid)
        return c if c and c.ok else None

    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("Generated by `bench/run` — do not edit by hand; rerun it. "
      f"{'**QUICK smoke run (short, one run each): not representative.** ' if args.quick else ''}"
      f"Each case ran {args.runs} time(s) against a fresh server; every figure is the **median** "
      "over the runs of that case (each column's median taken on its own). "
      "MB = 10^6 bytes of record payload (keys, headers and protocol framing not counted), "
      "GB = 10^9. CPU s/GB is the server's user+system CPU time over the measured window "
      "(from /proc/PID/stat) divided by the payload GB moved; peak RSS is VmHWM.")
    w("")
    w(f"Run of {env.get('date_utc', '?')} on {env.get('os', '?')}, kernel {env.get('kernel', '?')}, "
      f"{env.get('cores', '?')} cores ({env.get('cpu', '?')}), {env.get('mem_gib', '?')} GiB, "
      f"data on {env.get('filesystem', '?')}. Gregor {env.get('gregor_commit', '?')} (release build), "
      f"client librdkafka {env.get('librdkafka', '?')}; Redis {env.get('redis', '?') or 'not installed'} "
      f"(hiredis {env.get('hiredis', '?') or '–'}), {env.get('nats', '') or 'NATS not installed'} "
      f"(libnats {env.get('libnats', '?') or '–'}). Clients and server share the same 2 cores, "
      "so client CPU is taken from the server's budget. Load average (1, 5, 15 min) at the start "
      f"of the run: {env.get('loadavg_start', '?')}; at its end: {loadavg_end(res)} "
      "(other work on the machine shares the cores and shows up as noise).")
    w("")
    first_cpu, warm_cpu = dd["cache-write"][1], dd["cache-write-warm"][1]

    def kswapd_note():
        c = g("g-produce-1k-p1-a1-none")
        k = c.kswapd_gb() if c else None
        if k is None:
            return ""
        return (f" (in the produce 1 KiB acks=1 case kswapd used {fmt(k, 2)} CPU-s per GB "
                f"produced, beside the broker's {fmt(c.cpu_gb(), 2)})")
    if warmup:
        w("**Page cache: the steady state, with the first touch beside it.** This VM gives the "
          "memory its guest frees back to the host within seconds (virtio-balloon free page "
          "reporting), and the first write into such a page pays the host's page fault: "
          f"writing the page cache into free memory cost {fmt(first_cpu, 2)} CPU-s/GB in this run, "
          f"against {fmt(warm_cpu, 2)} CPU-s/GB into pages the kernel recycles from a full page "
          "cache (both rows of the machine's limits below)"
          + (". The two are close this time: the free memory `dd` got had not (all) gone back to "
             "the host, which the allocator does not let one choose; on 2026-11-25 the first "
             "touch cost 1.2 to 3.2 CPU-s/GB against 0.3 to 0.5 recycled"
             if first_cpu is not None and warm_cpu is not None and first_cpu < 2 * warm_cpu else "")
          + ". A broker that has been in service writes "
          "into a page cache long full of older data, so its appends reuse reclaimed pages; the "
          "cases here measure that steady state. Before them `bench/run` filled all free memory "
          f"but {warmup.get('margin_mib', 0):.0f} MiB with clean ballast files (the warm-up: "
          f"{warmup.get('mib', 0) / 1024:.1f} GiB in {warmup.get('seconds', 0):.0f} s), and it tops "
          "the ballast up again right before each server starts, after deleting the previous "
          "run's data, so each run's writes are served by reclaiming ballast pages. Deleting "
          "files alone would not do: their pages go back to the host before the next run. "
          "On a fresh VM, or after something drops the page cache, produce costs about the "
          "difference of the two rows more per GB. The reclaim itself runs mostly in kswapd, "
          "whose CPU is not counted in the broker's, as on any host with a full page cache"
          + kswapd_note() + ".")
    else:
        w("**Page cache not filled first (WARM=0):** the cases wrote into memory the VM's host "
          "had taken back, so produce figures include the first-touch cost of the page-cache "
          f"write ({fmt(first_cpu, 2)} CPU-s/GB for `dd` in this run); bench/run's default "
          "measures the steady state instead.")
    w("")

    # ---- summary against the targets
    w("## Against the targets of issue 5")
    w("")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")

    def verdict(ok):
        return "–" if ok is None else ("met" if ok else "**missed**")

    c = g("g-produce-1k-p1-a1-none")
    v = c.cpu_gb() if c else None
    w(f"| broker CPU ≤ {TARGET_PRODUCE_CPU_S_PER_GB} s/GB produced (1 KiB, acks=1) | "
      f"{fmt(v, 2)} s/GB | {verdict(None if v is None else v <= TARGET_PRODUCE_CPU_S_PER_GB)} |")
    c = g("g-consume-1k")
    v = c.cpu_gb() if c else None
    w(f"| broker CPU ≤ {TARGET_CONSUME_CPU_S_PER_GB} s/GB consumed | {fmt(v, 2)} s/GB | "
      f"{verdict(None if v is None else v <= TARGET_CONSUME_CPU_S_PER_GB)} |")
    for size, gid in (("1 KiB", "g-produce-1k-p1-a1-none"), ("100 B", "g-produce-100b")):
        for peer in ("redis", "nats"):
            pid_ = f"{peer}-produce-{'1k' if size == '1 KiB' else '100b'}"
            gr, pr = g(gid), g(pid_)
            rt = ratio(gr.mbps() if gr else None, pr.mbps() if pr else None)
            meas = "not measured" if peer not in peers_ok or not pr else fmt_ratio(rt)
            w(f"| produce ≥ {TARGET_PRODUCE_VS_PEER:g}× {PEER_NAMES[peer]} MB/s, {size} | {meas} | "
              f"{verdict(None if rt is None else rt >= TARGET_PRODUCE_VS_PEER)} |")
    for peer in ("redis", "nats"):
        gr, pr = g("g-consume-1k"), g(f"{peer}-consume-1k")
        rt = ratio(gr.mbps() if gr else None, pr.mbps() if pr else None)
        meas = "not measured" if peer not in peers_ok or not pr else fmt_ratio(rt)
        w(f"| consume ≥ {TARGET_CONSUME_VS_PEER:g}× {PEER_NAMES[peer]} MB/s, 1 KiB | {meas} | "
          f"{verdict(None if rt is None else rt >= TARGET_CONSUME_VS_PEER)} |")
    c = g("g-e2e-10k")
    p99 = c.lat("p99") if c else None
    p999 = c.lat("p999") if c else None
    w(f"| e2e p99 ≤ 1 ms at 10k records/s, 1 KiB | {fmt_us(p99)} | "
      f"{verdict(None if p99 is None else p99 <= TARGET_E2E_P99_US)} |")
    w(f"| e2e p99.9 ≤ 3 ms at 10k records/s, 1 KiB | {fmt_us(p999)} | "
      f"{verdict(None if p999 is None else p999 <= TARGET_E2E_P999_US)} |")
    scale = None
    try:
        with open(os.path.join(res, "scale.json")) as f:
            scale = json.load(f)
    except (OSError, ValueError):
        pass
    big = max((r for r in (scale or {}).get("partitions", []) if r.get("partitions")),
              key=lambda r: r["partitions"], default=None)
    if big and big["partitions"] >= 100000:
        cold = big.get("start_cold_s")
        w(f"| {big['partitions']:,} idle partitions start in ≤ 10 s (cold page cache) | "
          f"{fmt(cold, 2)} s | {verdict(None if cold is None else cold <= 10)} |")
        hwm = big.get("cold_VmHWM") or big.get("warm_VmHWM")
        w(f"| ... with ≤ 1 GiB RSS | {fmt(hwm / 2**20 if hwm else None)} MiB peak | "
          f"{verdict(None if hwm is None else hwm <= 2**30)} |")
        fds = big.get("cold_fds") or big.get("warm_fds")
        w(f"| ... open files bounded by a setting (`log.open.files.max`, segments opened lazily) | "
          f"{fds} descriptors after start | {verdict(None if fds is None else fds < big['partitions'])} |")
    conns = max((r for r in (scale or {}).get("connections", []) if r.get("connections")),
                key=lambda r: r["connections"], default=None)
    if conns and conns["connections"] >= 10000:
        per = conns.get("bytes_per_connection")
        w(f"| {conns['connections']:,} idle connections ≤ 10 KiB each | "
          f"{fmt(per / 1024 if per is not None else None, 2)} KiB | "
          f"{verdict(None if per is None else per <= 10 * 1024)} |")
    w("")
    if not (big and big["partitions"] >= 100000):
        w("The scale targets (100,000 partitions, 10,000 idle connections) were not measured by "
          "this run (SCALE=0 or QUICK); see the scale section of a full run.")
        w("")

    # ---- machine limits
    w("## The machine's limits (same run)")
    w("")
    w("| limit | measured | CPU s/GB | how |")
    w("| --- | --- | --- | --- |")
    for label, it, how in (("loopback TCP", iperf, "`iperf3 -c 127.0.0.1 -t N -J`, one stream"),
                           ("loopback TCP, sendfile", iperf_z, "the same with `-Z` (sendfile)")):
        lb = it[0]
        w(f"| {label} | {fmt(lb / 1e6 if lb else None)} MB/s ({fmt(lb * 8 / 1e9 if lb else None, 1)} Gbit/s) "
          f"| sender {fmt(it[1], 2)}, receiver {fmt(it[2], 2)} | {how} |")
    for key, label, how in (
            ("cache-write", "page-cache write, first touch",
             "`dd if=/dev/zero of=FILE bs=1M count=N` (no sync), before the warm-up: into free "
             "memory, first touch where the host has taken it back"),
            ("cache-write-warm", "page-cache write, recycled pages",
             "the same after the warm-up: the kernel reclaims pages of the full page cache"),
            ("cache-read", "page-cache read", "`dd if=FILE of=/dev/null bs=1M` (file still cached)"),
            ("disk-fdatasync", "disk write with fdatasync", "`dd if=/dev/zero of=FILE bs=1M count=N/2 conv=fdatasync`")):
        v, cpu = dd[key]
        if key == "cache-write-warm" and not warmup:
            continue
        w(f"| {label} | {fmt(v / 1e6 if v else None)} MB/s | {fmt(cpu, 2)} | {how} |")
    w("")
    w("CPU s/GB of a limit is the kernel's own cost of moving a GB that way (iperf3's CPU "
      "figures, dd's user+system time), a reference for what the broker pays for the same moves. "
      f"Producing is a loopback receive ({fmt(iperf[2], 2)} s/GB here) plus a page-cache write "
      f"({fmt(warm_cpu, 2)} s/GB into recycled pages, {fmt(first_cpu, 2)} s/GB at first touch; "
      "the fdatasync'd dd, which ran right after the first-touch one and could reuse the pages "
      f"it freed, paid {fmt(dd['disk-fdatasync'][1], 2)} s/GB with write-back included); consuming with "
      f"sendfile is a loopback sendfile send ({fmt(iperf_z[1], 2)} s/GB). On loopback the "
      "receiver's TCP processing often runs in a softirq on the sender's CPU, so the split "
      "between the two sides varies from run to run; both are shown.")
    w("")

    # ---- Gregor cases
    w("## Gregor")
    w("")
    w("| case | MB/s | records/s | p50 | p99 | p99.9 | max | broker CPU s/GB | broker peak RSS | client CPU s | load | runs |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in cases:
        if c.tool != "gregor":
            continue
        if not c.ok:
            w(f"| {c.title} | failed | | | | | | | | | | 0/{c.planned} |")
            continue
        lat = c.has_latency()
        w(f"| {c.title} | {fmt(c.mbps())} | {fmt(c.rps(), 0)} | "
          + (" | ".join(fmt_us(c.lat(k)) for k in ("p50", "p99", "p999", "max")) if lat else "– | – | – | –")
          + f" | {fmt(c.cpu_gb(), 2)} | {fmt(c.rss_mib())} MiB | {fmt(c.client_cpu(), 2)} | "
          f"{fmt(c.load(), 1)} | {len(c.runs)}/{c.planned} |")
    w("")
    w("Latency columns: for `produce` cases, send to acknowledgement in a closed loop — the "
      "producer keeps librdkafka's queue full, so this is mostly time queued in the client and "
      "only the throughput matters; for `open-loop`, from each record's intended send time to its "
      "acknowledgement; for `e2e`, from the send stamp in the record to its arrival at the "
      "consumer (librdkafka's default fetch.wait.max.ms=500, linger.ms=0). "
      "The fan-out row sums both readers' bytes over the longer of their two windows. "
      "Load: the machine's 1-minute load average as each run started (median); with 2 cores, "
      "anything well above 2 means other work was competing with the broker and the client.")
    lost = [(c.title, c.lost()) for c in cases if c.tool == "gregor" and c.ok and c.lost()]
    for title, n in lost:
        w(f"\n**{title}: {n} acknowledged records were not seen by the consumer within the grace period.**")
    dropped = [(c.title, c.dropped_runs()) for c in cases if c.ok and c.dropped_runs()]
    if dropped:
        w("\nSomething else on the machine dropped the page cache (`/proc/sys/vm/drop_caches`) "
          "during these runs, which then wrote partly into first-touch memory: "
          + "; ".join(f"{t} (run {', '.join(map(str, runs))})" for t, runs in dropped) + ".")
    fan = g("g-consume-1k-x2")
    if fan:
        per = fan.med(lambda r: r["per_reader_mb_per_s"][0])
        w(f"\nFan-out: two consumers read the same topic at once, each from the start (what two "
          f"consumer groups do; group-less consumers keep group coordination out of the figure); "
          f"median per reader {fmt(per)} MB/s.")
    w("")

    # ---- peers
    w("## Peers on the same machine and workload")
    w("")
    if not peers_ok:
        w("Redis Streams and NATS JetStream: **not measured** (not installed, or their drivers did "
          "not build).")
    else:
        missing = [PEER_NAMES[p] for p in ("redis", "nats") if p not in peers_ok]
        if missing:
            w(f"{', '.join(missing)}: **not measured** (not installed or driver did not build).")
            w("")
        w("| workload | Gregor | " + " | ".join(
            f"{PEER_NAMES[p]} | Gregor / {p}" for p in ("redis", "nats")) + " |")
        w("| --- | ---: | " + " | ".join("---: | ---:" for _ in ("redis", "nats")) + " |")
        rows = (("produce 1 KiB", "g-produce-1k-p1-a1-none", "produce-1k"),
                ("produce 100 B", "g-produce-100b", "produce-100b"),
                ("consume 1 KiB", "g-consume-1k", "consume-1k"))
        for metric, getter, unit in (("MB/s", Case.mbps, ""), ("records/s", Case.rps, "")):
            for label, gid, suffix in rows:
                gc = g(gid)
                gv = getter(gc) if gc else None
                cells = [f"{label}, {metric}", fmt(gv, 0 if metric == "records/s" else 1)]
                for p in ("redis", "nats"):
                    pc = g(f"{p}-{suffix}")
                    pv = getter(pc) if pc else None
                    cells += [fmt(pv, 0 if metric == "records/s" else 1) if pc else "not measured",
                              fmt_ratio(ratio(gv, pv))]
                w("| " + " | ".join(cells) + " |")
        for label, gid, suffix in rows:
            gc = g(gid)
            gv = gc.cpu_gb() if gc else None
            cells = [f"{label}, server CPU s/GB", fmt(gv, 2)]
            for p in ("redis", "nats"):
                pc = g(f"{p}-{suffix}")
                pv = pc.cpu_gb() if pc else None
                cells += [fmt(pv, 2) if pc else "not measured", fmt_ratio(ratio(gv, pv))]
            w("| " + " | ".join(cells) + " |")
        for label, gid, suffix in rows:
            gc = g(gid)
            gv = gc.rss_mib() if gc else None
            cells = [f"{label}, server peak RSS MiB", fmt(gv)]
            for p in ("redis", "nats"):
                pc = g(f"{p}-{suffix}")
                pv = pc.rss_mib() if pc else None
                cells += [fmt(pv) if pc else "not measured", fmt_ratio(ratio(gv, pv))]
            w("| " + " | ".join(cells) + " |")
        w("")
        w("Settings, each server's fastest reasonable durable one: Gregor as configured by default "
          "(appends go to the page cache, no fsync by count or time; acks=1 from one producer, "
          "librdkafka's default linger.ms=5 and batch.size); Redis with `appendonly yes`, "
          "`appendfsync everysec`, no RDB snapshots, driven through hiredis with up to 1,000 XADDs "
          "pipelined per connection (written in two halves so one is always on the wire) and read "
          "back with `XREAD COUNT 1000`; NATS JetStream with its file store (server defaults), "
          "driven through libnats with asynchronous publishes, at most 1,000 awaiting their ack, "
          "and read back by one pull consumer without acks fetching 4,000 at a time. "
          "One client connection per server in every case. Durability differs: Redis fsyncs its "
          "log every second, Gregor and NATS leave it to the kernel's write-back (NATS syncs "
          "on its own schedule).")
    w("")

    # ---- ratios to the machine
    w("## Gregor against the machine")
    w("")
    w("| figure | Gregor MB/s | limit MB/s | share |")
    w("| --- | ---: | ---: | ---: |")
    for label, gid, lkey, lname in (
            ("produce 1 KiB, acks=1 vs page-cache write"
             + (", recycled pages" if cache_write_key == "cache-write-warm" else ""),
             "g-produce-1k-p1-a1-none", "cache_write", ""),
            ("produce 1 KiB, acks=1 vs loopback TCP", "g-produce-1k-p1-a1-none", "loopback", ""),
            ("consume 1 KiB vs page-cache read", "g-consume-1k", "cache_read", ""),
            ("consume 1 KiB vs loopback TCP", "g-consume-1k", "loopback", ""),
            ("fan-out (2 readers) vs loopback TCP", "g-consume-1k-x2", "loopback", "")):
        gc = g(gid)
        gv = gc.mbps() if gc else None
        lv = limits[lkey] / 1e6 if limits[lkey] else None
        r = ratio(gv, lv)
        w(f"| {label} | {fmt(gv)} | {fmt(lv)} | {'–' if r is None else f'{100 * r:.0f}%'} |")
    w("")

    # ---- plots
    plots = []
    os.makedirs(args.plots, exist_ok=True)
    for c in cases:
        if c.ok and c.has_latency() and c.tool == "gregor" and not c.id.startswith("g-produce"):
            path = os.path.join(args.plots, f"{c.id}.svg")
            target = TARGET_E2E_P99_US / 1000 if c.id == "g-e2e-10k" else None
            if svg_spectrum(c, path, target):
                plots.append((c, os.path.relpath(path, os.path.dirname(os.path.abspath(args.out)))))
    if plots:
        w("## Latency by percentile")
        w("")
        w("One line per run; the x axis adds a nine per step (HDR style).")
        w("")
        for c, rel in plots:
            w(f"![{c.title}]({rel})")
            w("")

    # ---- profiles
    def read_text(path):
        try:
            with open(path) as f:
                return f.read().rstrip()
        except OSError:
            return ""

    profs = []
    for name in ("produce", "consume"):
        text = read_text(os.path.join(res, f"perf-{name}.txt"))
        if text:
            profs.append((name, text, read_text(os.path.join(res, f"perf-{name}-inclusive.txt"))))
    if profs:
        w("## Where the broker's CPU goes (perf)")
        w("")
        w("`perf record -g -p BROKER_PID` over one extra run of each (not part of the medians; "
          "perf slows the broker, so their MB/s is lower). Self time: `perf report --no-children "
          "-g none --sort dso,sym --percent-limit 1`; inclusive time (self + callees): the same "
          "with `--children --percent-limit 4`.")
        w("")
        for name, text, incl in profs:
            gc = load_json(os.path.join(res, f"perf-{name}.json"))
            extra = f" ({fmt(gc['mb_per_s'])} MB/s in that run)" if gc else ""
            w(f"{name} 1 KiB{extra}, self:")
            w("")
            w("```")
            w(text)
            w("```")
            w("")
            if incl:
                w(f"{name}, inclusive:")
                w("")
                w("```")
                w(incl)
                w("```")
                w("")
    # ---- scale cases (bench/scale.py)
    scale_md = read_text(os.path.join(res, "scale.md"))
    if scale_md:
        w("## Scale: many partitions, many idle connections")
        w("")
        w("`%s` (one run: each case takes minutes). Start-up is timed from exec to the first "
          "answered ApiVersions; \"cold\" drops the page cache first (root only). Targets: 100,000 "
          "partitions start in at most 10 s with at most 1 GiB RSS and descriptors bounded by "
          "`log.open.files.max`; 10,000 idle connections cost at most 10 KiB each."
          % read_text(os.path.join(res, "scale.cmd")))
        w("")
        w(scale_md)
        w("")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes) and not args.quick:
        with open(notes) as f:
            w(f.read().rstrip())
        w("")
    # Sections measured by their own scripts (bench/compaction), kept as written.
    compaction = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compaction.md")
    if os.path.exists(compaction) and not args.quick:
        with open(compaction) as f:
            w(f.read().rstrip())
        w("")

    # ---- commands
    w("## Exact commands")
    w("")
    w("`bench/run` (RUNS=%d%s) starts each server itself on a free loopback port and passes "
      "`$PORT` and its `$PID`. Gregor: `gregor broker --override listeners=PLAINTEXT://127.0.0.1:$PORT "
      "--override log.dirs=build/bench-data/gregor --override log.level=warn`. Redis: "
      "`redis-server --port $PORT --bind 127.0.0.1 --dir build/bench-data/redis --appendonly yes "
      "--appendfsync everysec --save '' --protected-mode no`. NATS: `nats-server -js -sd "
      "build/bench-data/nats -a 127.0.0.1 -p $PORT`. The peer drivers are `bench/peers/*.c`, built "
      "by bench/run into build/bench-peers/. Right before each server starts, bench/run deletes the "
      "previous run's data and tops the page-cache ballast (build/bench-data/ballast) up to all "
      "free memory but the margin, unless run with WARM=0." % (args.runs, ", QUICK=1" if args.quick else ""))
    w("")
    for c in cases:
        w(f"- {c.title} (`{c.id}`):")
        w("  ```")
        for line in c.command.split("\n"):
            w("  " + line)
        w("  ```")
    w("")
    with open(args.out, "w") as f:
        f.write("\n".join(L))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    t = sub.add_parser("timed")
    t.add_argument("out")
    t.add_argument("command", nargs=argparse.REMAINDER)
    c = sub.add_parser("combine")
    c.add_argument("out")
    c.add_argument("inputs", nargs="+")
    c.add_argument("--cpu-ticks", nargs=2, type=float, required=True)
    c.add_argument("--hz", type=float, default=100)
    c.add_argument("--hwm-kib", type=int, default=0)
    c.add_argument("--pid", type=int, default=0)
    m = sub.add_parser("markdown")
    m.add_argument("--results", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--plots", required=True)
    m.add_argument("--runs", type=int, required=True)
    m.add_argument("--quick", type=int, default=0)
    a = ap.parse_args()
    return {"env": cmd_env, "timed": cmd_timed, "combine": cmd_combine,
            "markdown": cmd_markdown}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
