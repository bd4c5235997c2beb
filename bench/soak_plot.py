#!/usr/bin/env python3
"""Plots bench/soak.sh's CSV into a PNG (matplotlib: Debian's python3-matplotlib) and prints
whether RSS and the WAL stayed flat.

Usage: soak_plot.py SOAK.csv OUT.png

Flat: after the first fifth of the run (warm-up: caches fill), the
RSS of the last third never exceeds the median of the middle third by more than 15% + 16 MiB, and the WAL never
exceeds 160 MiB (the store restarts it past 8192 16-KiB frames, 128 MiB; docs/DESIGN.md).
"""
import csv
import statistics
import sys


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    cols = {k: [] for k in rows[0]} if rows else {}
    for r in rows:
        for k, v in r.items():
            try:
                cols[k].append(float(v))
            except (TypeError, ValueError):
                cols[k].append(float("nan"))
    return cols


def verdict(c):
    n = len(c["elapsed_s"])
    if n < 6:
        return "too short to judge flatness (fewer than 6 samples)"
    rss = c["rss_mb"][n // 5:]
    third = max(1, len(rss) // 3)
    middle = statistics.median(rss[third:2 * third])
    last = max(rss[-third:])  # a late jump counts: a median of the last third would hide it
    wal_max = max(c["wal_mb"] + c.get("pending_wal_mb", []))
    rss_ok = last <= middle * 1.15 + 16
    wal_ok = wal_max <= 160
    return (f"rss_middle_mb={middle:.0f} rss_last_mb={last:.0f} rss={'FLAT' if rss_ok else 'GROWING'}"
            f" wal_max_mb={wal_max:.1f} wal={'BOUNDED' if wal_ok else 'TOO_BIG'}")


def main():
    src, png = sys.argv[1], sys.argv[2]
    c = load(src)
    if not c:
        print("soak_plot: no samples")
        return 1
    print("soak verdict:", verdict(c))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("soak_plot: matplotlib is not installed (apt-get install python3-matplotlib, or "
              "scripts/install-deps.sh --bench); CSV only")
        return 0
    t = [s / 60 for s in c["elapsed_s"]]
    fig, ax = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
    a = ax[0][0]
    a.plot(t, c["rss_mb"], label="RSS")
    a.plot(t, c["peak_rss_mb"], label="peak RSS (VmHWM)", linestyle="--")
    a.set_ylabel("MiB")
    a.set_title("memory")
    a.set_ylim(bottom=0)
    a.legend()
    a = ax[0][1]
    a.plot(t, c["wal_mb"], label="WAL file")
    a.plot(t, c["db_mb"], label="database file")
    if "pending_wal_mb" in c:
        a.plot(t, c["pending_wal_mb"], label="WAL of the pending file")
    a.set_ylabel("MiB")
    a.set_title("WAL and database size")
    a.set_ylim(bottom=0)
    a.legend()
    a = ax[1][0]
    a.plot(t, c["offered_events_per_s"], label="offered")
    a.plot(t, c["stored_events_per_s"], label="stored (new events)")
    a.set_ylabel("events/s")
    a.set_title("throughput and latency")
    a.set_ylim(bottom=0)
    a2 = a.twinx()
    a2.plot(t, c["p99_ms"], color="tab:red", label="p99 latency")
    a2.set_ylabel("p99 ms", color="tab:red")
    a2.set_ylim(bottom=0)
    a.legend(loc="upper left")
    a.set_xlabel("minutes")
    a = ax[1][1]
    a.step(t, c["wal_restart_checkpoints"], where="post", label="WAL restart checkpoints")
    a.step(t, c["wal_resets"], where="post", label="WAL resets")
    a.step(t, c["syncs_succeeded"], where="post", label="sync runs succeeded")
    a.set_title("checkpoints and syncs (cumulative)")
    a.set_xlabel("minutes")
    a.legend()
    fig.suptitle("sendgrid-source soak: " + verdict(c))
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"soak_plot: wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
