#!/usr/bin/env python3
"""Disk full: the storage directory on a small filesystem that fills up.

Usage: disk_full_test.py PATH_TO_BINARY

Mounts a 16 MiB tmpfs (or, failing that, a loop-mounted ext4 image) for the storage
directory; exits 77 (CTest: skipped) with the reason when the machine forbids mounting. Then:
batches are acknowledged; a filler file takes every free byte; the endpoint must answer 503
(quickly, never 200 for what it could not write), the daemon stays up and /healthz is 503 and
says the disk is full; the filler is deleted and ingestion resumes by itself, without a
restart; at the end every acknowledged event is stored exactly once and the file passes
PRAGMA integrity_check.
"""
import errno
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgs_harness as h  # noqa: E402

SIZE_MB = 16


def try_mount(mnt, work):
    """Mounts a small filesystem on mnt; returns a description, or None with the reasons."""
    reasons = []
    if not os.environ.get("SGS_DISK_FULL_LOOP"):  # set it to test the loop-mounted image
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return f"tmpfs size={SIZE_MB}m", reasons
        reasons.append(f"mount -t tmpfs: {(r.stderr or r.stdout).strip()}")
    image = os.path.join(work, "fs.img")
    with open(image, "wb") as f:
        f.truncate(SIZE_MB << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", image], capture_output=True, text=True)
    if r.returncode != 0:
        reasons.append(f"mkfs.ext4: {(r.stderr or r.stdout).strip()}")
        return None, reasons
    r = subprocess.run(["mount", "-o", "loop", image, mnt], capture_output=True, text=True)
    if r.returncode == 0:
        return f"loop-mounted ext4 image of {SIZE_MB} MiB", reasons
    reasons.append(f"mount -o loop: {(r.stderr or r.stdout).strip()}")
    return None, reasons


def fill(path):
    """Writes path until the filesystem has no byte left; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 64 << 10, 4 << 10, 512, 1):
            data = b"\0" * chunk
            while True:
                try:
                    f.write(data)
                    written += chunk
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return written


def main():
    binary = sys.argv[1]
    work = h.temp_work("sgs-diskfull.")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    mounted = False
    daemon = None
    try:
        what, reasons = try_mount(mnt, work) if os.geteuid() == 0 else (None, ["not root"])
        if what is None:
            print("SKIP: cannot mount a small filesystem here (needs root or CAP_SYS_ADMIN): "
                  + "; ".join(reasons), flush=True)
            sys.exit(h.SKIP)
        mounted = True
        print(f"storage on {what}", flush=True)
        daemon = h.Daemon(binary, work, source="full", storage_dir=os.path.join(mnt, "data"))
        port = daemon.start()
        acked, sent = set(), set()
        batch_no = 0

        def post_batch(size=200):
            nonlocal batch_no
            batch_no += 1
            events = h.make_events(f"f{batch_no}", size)
            ids = [e["sg_event_id"] for e in events]
            sent.update(ids)
            status, text, seconds = h.post(port, daemon.path, h.body_of(events))
            if status == 200:
                acked.update(ids)
            return status, text, seconds

        for _ in range(5):
            status, text, _ = post_batch()
            h.check(status == 200, f"POST before the disk filled answered {status}: {text}")

        filler = os.path.join(mnt, "filler")
        filled = fill(filler)
        # Leave 1 MiB: ingestion itself fills the disk, mid-transaction at some point.
        os.truncate(filler, filled - (1 << 20))
        print(f"filler took {(filled >> 10) - 1024} KiB; free now "
              f"{shutil.disk_usage(mnt).free >> 10} KiB", flush=True)

        # Commits fit until the WAL needs a byte more; from then on every POST is a 503.
        answers = []
        for _ in range(500):
            status, text, seconds = post_batch()
            answers.append(status)
            h.check(status in (200, 503), f"POST on a full disk answered {status}: {text}")
            h.check(seconds < 10 * h.SLOWDOWN, f"POST on a full disk took {seconds:.1f} s")
            if status == 503:
                break
        h.check(answers[-1] == 503, f"no 503 after {len(answers)} POSTs on a full disk")
        print(f"first 503 after {len(answers) - 1} acknowledged POST(s) filled the disk: {text}",
              flush=True)
        h.check("full" in text, f"the 503 does not say the disk is full: {text}")
        status, src, body = daemon.healthz()
        h.check(status == 503, f"/healthz on a full disk answered {status}: {body}")
        h.check(src and src["writable"] is False and "full" in src.get("error", ""),
                f"/healthz does not say the disk is full: {body}")
        print(f"/healthz: {body}", flush=True)
        # A big batch cannot fit; a small one may still fit in what the failed commit left,
        # and then it is acknowledged and must be kept like any other.
        late = []
        for size in (5000, 200, 50, 1):
            status, text, seconds = post_batch(size)
            late.append(status)
            h.check(status in (200, 503), f"POST on the full disk answered {status}: {text}")
            h.check(seconds < 5 * h.SLOWDOWN, f"POST on the full disk took {seconds:.1f} s")
            if size == 5000:
                h.check(status == 503, f"5000 events on a full disk answered {status}: {text}")
        h.check(daemon.alive(), f"daemon died on a full disk:\n{daemon.log_tail()}")
        print(f"then 5000, 200, 50, 1 events answered {late}", flush=True)

        status, text, _ = post_batch(5000)
        h.check(status == 503, f"5000 events on a full disk answered {status}: {text}")
        status, src, body = daemon.healthz()
        h.check(status == 503, f"/healthz right after a 503 on the full disk: {body}")
        pending = src["pending_events"]
        os.remove(filler)
        if pending:
            # Bodies acknowledged before the disk filled wait in pending_bodies; the writer
            # retries moving them every second, and once that commits /healthz is 200 again
            # without any request having come.
            h.wait_until(lambda: daemon.healthz()[0] == 200, 10,
                         "/healthz to recover by itself after space was freed")
            daemon.wait_idle(timeout=30)
            print(f"space freed: the {pending} pending events were merged and /healthz is 200 "
                  "before any new request", flush=True)
        # No restart: the next POST is accepted.
        resumed = None
        for i in range(50):
            status, text, _ = post_batch()
            if status == 200:
                resumed = i + 1
                break
            time.sleep(0.1)
        h.check(resumed, f"ingestion did not resume after space was freed: last answer "
                f"{status} {text}")
        for _ in range(5):
            status, text, _ = post_batch()
            h.check(status == 200, f"POST after space was freed answered {status}: {text}")
        daemon.wait_idle(timeout=30)
        h.wait_until(lambda: daemon.healthz()[0] == 200, 10, "/healthz to be 200 again")
        rc = daemon.stop()
        h.check(rc == 0, f"SIGTERM exit code {rc}:\n{daemon.log_tail()}")
        counts = h.check_exactly_once(daemon.db_file, acked, sent)
        print(f"acked_events={len(acked)} stored_events={len(counts)} "
              f"resumed_after={resumed} POST(s) integrity=ok", flush=True)
    finally:
        if daemon is not None and daemon.alive():
            daemon.kill9()
        if mounted:
            subprocess.run(["umount", mnt], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main)
