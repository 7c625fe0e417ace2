#!/usr/bin/env python3
"""Writes the Redis-suite table of docs/compatibility.md: for every unit of the suite's
units.txt, the tests redis-server 7.0.15 passes on this machine (the suite's
baseline-redis.txt), the tests fluidB passes (the output of `redis-suite/run.sh --soak`),
and for each gap the reason (redis-suite/units.txt for units not run, the family comments
of redis-suite/skip.txt for skipped tests, redis-suite/gaps.txt for anything else).

    redis-suite/run.sh --soak | tee /tmp/suite.txt
    redis-suite/table.py /tmp/suite.txt > /tmp/table.md
"""
import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
suite = os.environ.get("SUITE", os.path.join(here, "..", "..", "shared", "redis-7.0.15"))


def results(path):
    """unit -> (ok, err, exc) from a run-suite.sh style output."""
    out = {}
    for line in open(path):
        m = re.match(r"^(\S+) ok=(\d+) err=(\d+) exc=(\d+)", line)
        if m:
            out[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    return out


def tiers():
    """unit -> (tier, reason) from redis-suite/units.txt."""
    out = {}
    for line in open(os.path.join(here, "units.txt")):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        rest = parts[2] if len(parts) > 2 else ""
        if rest.startswith("stop="):
            word, why = (rest[5:].split(None, 1) + [""])[:2]
            out[parts[1]] = (parts[0], f"stops at {word}: {why}")
        else:
            out[parts[1]] = (parts[0], rest)
    return out


def skipped_by_unit():
    """unit -> {family: number of its tests skipped}, from skip.txt's `# === family` and
    `# unit/...` comment lines."""
    out, family, unit = {}, "", ""
    for line in open(os.path.join(here, "skip.txt")):
        line = line.rstrip("\n")
        if line.startswith("# === "):
            family = line[6:].split(":")[0].strip()
        elif re.match(r"^# (unit|integration)/\S+$", line):
            unit = line[2:]
        elif line and not line.startswith("#"):
            fams = out.setdefault(unit, {})
            fams[family] = fams.get(family, 0) + 1
    return out


def gaps():
    """unit -> reason, for deliberate differences (redis-suite/gaps.txt: `unit: reason`)."""
    out = {}
    p = os.path.join(here, "gaps.txt")
    if os.path.exists(p):
        for line in open(p):
            if line.strip() and not line.startswith("#") and ":" in line:
                unit, reason = line.split(":", 1)
                out.setdefault(unit.strip(), []).append(reason.strip())
    return out


def main():
    redis = results(os.path.join(suite, "baseline-redis.txt"))
    ours = results(sys.argv[1])
    tier = tiers()
    skip = skipped_by_unit()
    gap = gaps()
    units = [u.strip() for u in open(os.path.join(suite, "units.txt")) if u.strip() and not u.startswith("#")]
    rows, tot_r, tot_f = [], 0, 0
    for u in units:
        r_ok = redis.get(u, (0, 0, 0))[0]
        t, reason = tier.get(u, ("no", "not listed in redis-suite/units.txt"))
        tot_r += r_ok
        if u not in ours:
            rows.append((u, r_ok, "not run", reason or t))
            continue
        ok, err, exc = ours[u]
        tot_f += ok
        notes = []
        fams = skip.get(u, {})
        if fams:
            notes.append("skipped " + ", ".join(f"{n} ({f})" for f, n in sorted(fams.items())))
        notes += gap.get(u, [])
        if reason.startswith("stops at ") and exc:
            notes.append(reason)
            exc = 0
        if err or exc:
            notes.append(f"FAILING: err={err} exc={exc}")
        if t == "soak":
            notes.append("soak tier (`FLUIDB_SOAK=1`)")
        rows.append((u, r_ok, str(ok), "; ".join(notes) if ok < r_ok or notes else ""))
    print("| unit | redis-server 7.0.15 | fluidB | gap and reason |")
    print("|---|---|---|---|")
    for u, r, f, why in rows:
        print(f"| {u} | {r} | {f} | {why} |")
    print(f"| **total** | **{tot_r}** | **{tot_f}** | |")


if __name__ == "__main__":
    main()
