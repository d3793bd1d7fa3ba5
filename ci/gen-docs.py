#!/usr/bin/env python3
"""ci/gen-docs.py: the generated parts of the documentation, from bench/results.json.

Owns: the benchmark figures in the docs (docs/bench-results.md, and the
"bench" block between README.md's "generated" markers), README.md's copy of
the exit-code table of docs/cli.md (its "exit-codes" block), the report group's goal rows
in bench/results.json and every row's `met`. Does not own: the measurements
(ci/bench.sh and bench/*.c take them) or the prose around the tables
(docs/bench.md explains the method by hand).

    ci/gen-docs.py --normalise   recompute the report goals and every `met` in
                                 bench/results.json (ci/bench.sh runs this)
    ci/gen-docs.py               write docs/bench-results.md and README.md's blocks
    ci/gen-docs.py --check       exit 1, one line per drift, if results.json's
                                 `met`/goal rows or a generated text is stale
                                 (tests/integration/test_docs.sh runs this)

Numbers are never copied by hand: a rerun of ci/bench.sh followed by this
script rewrites every table, so a headline cannot go stale.

A goal is text in one small grammar, so `met` is computed, never written:
    "<= 2 ms", "< 0.25", "0"       the faultline figure against a limit
                                   (a unit, if given, must be the row's unit)
    "<= 1/20 of blackbox_exporter" faultline / peer against 1/20
    "<= 3x of sqlite3 floor"       faultline / peer against 3
                                   (the row's peer_name must start with the
                                   name after "of")
A goal outside this grammar is an error, not a silent "met".
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results.json")
PAGE = os.path.join(ROOT, "docs", "bench-results.md")
README = os.path.join(ROOT, "README.md")
CLI = os.path.join(ROOT, "docs", "cli.md")
# README.md's generated blocks: <!-- BEGIN generated: NAME ... --> ... <!-- END generated: NAME -->
BEGIN = "<!-- BEGIN generated: %s (ci/gen-docs.py from %s; do not edit) -->"
END = "<!-- END generated: %s -->"

OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
}
LIMIT_RE = re.compile(r"^(<=|<|>=|>|=)?\s*(\d+(?:\.\d+)?)(?:\s+(\S+))?$")
RATIO_RE = re.compile(r"^(<=|<|>=|>)\s*(?:1/(\d+)|(\d+(?:\.\d+)?)x)\s+of\s+(.+)$")

# How a peer's figure differs from faultline's, said next to the ratio. Keyed
# by group and peer_name prefix, first match wins; a row may carry its own
# "peer_note" instead (bench/*.c knows best).
PEER_NOTES = [
    ("fidelity", "blackbox_exporter back to back",
     "separate pass (pass 2, alone); peer restored at the send of its first good sample, faultline at the answer"),
    ("fidelity", "",
     "same pass; peer restored at the send of its first good sample, faultline at the answer"),
    ("probe_cost", "blackbox_exporter", "new connection per probe; runs after faultline"),
    ("probe_cost", "curl loop", "new process and connection per probe; runs after faultline"),
    ("injection", "spawn", "a new process per injection, no journal"),
    ("report", "sqlite3 CLI", "raw query floor: the same aggregate, no report"),
    ("report", "report ", "same command at 10,000 runs"),
    ("pgstore", "SQLite store", "same history and command on the SQLite file; PostgreSQL 15 on loopback, rows cross a socket as text"),
    ("aws", "aws CLI", "a new process per call (how a harness that shells out to the CLI pays); 200 calls, the CLI 5 (2 s each)"),
]

# The report group's goals (issue 6), derived from its measured rows.
REPORT_FLOOR = "sqlite3 CLI same aggregate (floor)"
REPORT_TIME = ["report --format html", "report --format json"]
# Peak RSS at the largest history within 2x of the smallest: the reports, and
# the gate's regression rule (issue 14: it held the window's columns).
REPORT_RSS = REPORT_TIME + ["gate regression v1/v2 all runs"]
REPORT_GATE = "gate default window (last 10)"


class GoalError(Exception):
    pass


def goal_met(row):
    """True/False for a row with a goal, None without one; GoalError if the
    goal text is outside the grammar or names another peer."""
    goal = row.get("goal")
    if goal is None:
        return None
    goal = str(goal).strip()
    m = RATIO_RE.match(goal)
    if m:
        op, denom, mult, peer = m.groups()
        limit = 1.0 / int(denom) if denom else float(mult)
        if not str(row.get("peer_name") or "").startswith(peer):
            raise GoalError("goal '%s' names %s but the peer is %s" % (goal, peer, row.get("peer_name")))
        if row.get("faultline") is None or not row.get("peer"):
            return False
        return OPS[op](row["faultline"] / row["peer"], limit)
    m = LIMIT_RE.match(goal)
    if m:
        op, value, unit = m.groups()
        if unit is not None and unit != row.get("unit"):
            raise GoalError("goal '%s' is in %s but the row is in %s" % (goal, unit, row.get("unit")))
        if row.get("faultline") is None:
            return False
        return OPS[op or "="](row["faultline"], float(value))
    raise GoalError("goal '%s' is not in the goal grammar (see ci/gen-docs.py)" % goal)


def report_goal_rows(results):
    """The report group's goal rows, computed from its measured rows (those
    with `seconds`): time within 1.2x of the sqlite3 floor at the largest
    history (issue 14) and within 3x below it (issue 6: at 10,000 runs the
    floor is tens of milliseconds, about a process start), peak RSS at the
    largest history within 2x of the smallest (the reports and the gate's
    regression rule), gate under 100 ms at the
    largest history."""
    measured = [r for r in results if r.get("group") == "report" and "seconds" in r]
    by = {(r["name"], r["runs"]): r for r in measured}
    sizes = sorted({r["runs"] for r in measured})
    dates = [r.get("date") for r in measured if r.get("date")]
    rows = []

    def add(name, unit, faultline, peer_name, peer, goal):
        row = {"group": "report", "name": name, "unit": unit, "faultline": faultline,
               "peer_name": peer_name, "peer": peer,
               "ratio": (faultline / peer) if peer else None, "goal": goal, "derived": True}
        if dates:
            row["date"] = max(dates)
        rows.append(row)

    for n in sizes:
        floor = by.get((REPORT_FLOOR, n))
        for name in REPORT_TIME:
            r = by.get((name, n))
            if r and floor:
                add("%s, %s runs: wall time" % (name, "{:,}".format(n)), "s", r["seconds"],
                    REPORT_FLOOR, floor["seconds"],
                    "<= 1.2x of sqlite3 CLI" if n == sizes[-1] else "<= 3x of sqlite3 CLI")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for name in REPORT_RSS:
            a, b = by.get((name, hi)), by.get((name, lo))
            if a and b and a.get("peak_rss_kib") and b.get("peak_rss_kib"):
                add("%s: peak RSS at %s runs" % (name, "{:,}".format(hi)), "KiB", a["peak_rss_kib"],
                    "%s at %s runs" % (name, "{:,}".format(lo)), b["peak_rss_kib"],
                    "<= 2x of %s" % name)
    if sizes:
        g = by.get((REPORT_GATE, sizes[-1]))
        if g:
            add("%s, %s runs: wall time" % (REPORT_GATE, "{:,}".format(sizes[-1])), "s",
                g["seconds"], None, None, "< 0.1 s")
    return rows


def normalised(data):
    """A copy of results.json with the report goal rows recomputed and every
    goal's `met` computed from the stored figures."""
    out = dict(data)
    rows = [r for r in data.get("results", []) if not r.get("derived")]
    rows += report_goal_rows(rows)
    fixed = []
    for r in rows:
        r = dict(r)
        if r.get("goal") is not None:
            r["met"] = goal_met(r)
        fixed.append(r)
    out["results"] = fixed
    return out


def fmt(v, unit=None):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    a = abs(v)
    if unit == "outages" or (isinstance(v, int) and unit is None):
        return "{:,}".format(int(round(v)))
    if unit == "KiB":
        return "%.1f MiB" % (v / 1024.0)
    if a == 0 or a >= 1000:
        s = "{:,.0f}".format(v)
    elif a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    elif a >= 1:
        s = "%.2f" % v
    else:
        s = "%.3f" % v
    return s + (" " + unit if unit and unit not in ("outages",) else "")


def peer_note(row):
    if row.get("peer_note"):
        return row["peer_note"]
    name = row.get("peer_name") or ""
    if not name:
        return ""
    for group, prefix, note in PEER_NOTES:
        if row.get("group") == group and name.startswith(prefix):
            return note
    return ""


def counts(row, detail):
    """faultline's and the peer's sample counts where the group's detail (one
    row of a group carries it for all) says them, so a table shows when they
    differ. A row that carries "n" and "peer_n" (bench/*.c knows best) says them."""
    if "n" in row and "peer_n" in row:
        return row["n"], row["peer_n"]
    if row.get("group") == "injection":
        if not row.get("peer_name"):
            return None, None
        peer = [d for d in detail if d.get("series", "").startswith("peer") and
                row["peer_name"] in d.get("series", "")]
        mine = [d for d in detail if not d.get("series", "").startswith("peer")]
        return ((mine[0]["total_ms"]["n"] if mine else None),
                (peer[0]["total_ms"]["n"] if peer else None))
    if row.get("group") == "fidelity":
        fl = [d for d in detail if d.get("tool", "").startswith("faultline")]
        pe = [d for d in detail if d.get("tool") == row.get("peer_name")]
        return (fl[0]["outages"] if fl else None), (pe[0]["outages"] if pe else None)
    return None, None


def esc(s):
    return str(s).replace("|", "\\|")


def goal_table(rows, notes=True, details=None):
    head = "| group | measurement | faultline | peer | ratio | how the peer differs | goal | met |"
    if not notes:
        head = "| group | measurement | faultline | peer | ratio | goal | met |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        ratio = (r["faultline"] / r["peer"]) if r.get("peer") and r.get("faultline") is not None else None
        peer = ""
        if r.get("peer_name"):
            peer = "%s %s" % (r["peer_name"], fmt(r.get("peer"), r.get("unit")))
        cells = [r["group"], esc(r["name"]), fmt(r.get("faultline"), r.get("unit")), esc(peer),
                 "%.3g" % ratio if ratio is not None else ""]
        if notes:
            note = peer_note(r)
            nf, np_ = counts(r, (details or {}).get(r["group"], []))
            if nf is not None and np_ is not None and nf != np_:
                note = ("n = %s vs %s (not the same count); " % (nf, np_)) + note
            cells.append(esc(note.rstrip("; ")))
        cells += [esc(r.get("goal") or ""), fmt(r.get("met"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_name(m):
    return "%s cores, %s" % (m.get("cores"), m.get("cpu")) if m else None


def groups_of(results):
    """Each group's dates, machines and the load average its rows recorded
    (ci/bench.sh), in one phrase per group. Rows measured before ci/bench.sh
    recorded the machine say so rather than borrow another group's."""
    by, load, machines, unknown = {}, {}, {}, set()
    for r in results:
        g = r["group"]
        d = (r.get("date") or "")[:10]
        if d:
            by.setdefault(g, set()).add(d)
        elif not r.get("derived"):
            by.setdefault(g, set()).add("undated")
        if r.get("machine"):
            machines.setdefault(g, set()).add(machine_name(r["machine"]))
        elif not r.get("derived"):
            unknown.add(g)
        la = r.get("loadavg") or {}
        if la.get("start") or la.get("end"):
            load[g] = "load average %s -> %s" % (la.get("start") or "?", la.get("end") or "?")
    out = {}
    for g in sorted(set(by) | set(machines)):
        where = sorted(machines.get(g, set())) + (["machine not recorded"] if g in unknown else [])
        out[g] = "%s on %s%s" % (", ".join(sorted(by.get(g, {"undated"}))), " and ".join(where),
                                 " (%s)" % load[g] if g in load else "")
    return out


def machine(data):
    """The machines of the whole file: one, or each named."""
    names = sorted({machine_name(r["machine"]) for r in data["results"] if r.get("machine")})
    if not names:
        return "%s cores" % data.get("cores")
    return names[0] if len(names) == 1 else "machines: " + "; ".join(names)


def render_page(data):
    res = data["results"]
    goals = [r for r in res if r.get("goal") is not None]
    met = sum(1 for r in goals if r.get("met"))
    groups = groups_of(res)
    out = [
        "# Benchmark results, %s" % data.get("generated_at", "")[:10],
        "",
        "<!-- Generated by ci/gen-docs.py from bench/results.json: do not edit."
        " Rerun ci/bench.sh (it rewrites both). -->",
        "",
        "What the groups measure, how, and why a goal is missed: [bench.md](bench.md).",
        "Machines shared with other builds. Each group's rows carry their own date and"
        " machine (the host was `%s` each time): %s." % (
            data.get("host"), "; ".join("%s %s" % (g, d) for g, d in sorted(groups.items()))),
        "",
        "## Goals: %d of %d met" % (met, len(goals)),
        "",
        "`met` is computed from the figures by `ci/gen-docs.py` (goal grammar in"
        " its header); the ratio is faultline / peer, below 1 is faultline ahead.",
        "",
    ]
    details = {}
    for r in res:
        details.setdefault(r["group"], []).extend(r.get("detail") or [])
    out += goal_table(goals, details=details)
    other = [r for r in res if r.get("goal") is None and "faultline" in r]
    out += ["", "## Other comparisons (no goal)", ""]
    out += goal_table(other, details=details)
    out += render_fidelity(res) + render_injection(res) + render_probe_cost(res) + render_report(res)
    return "\n".join(out) + "\n"


def render_fidelity(res):
    details = [d for r in res if r.get("group") == "fidelity" for d in (r.get("detail") or [])]
    if not details:
        return []
    out = ["", "## Fidelity: signed error (measured − true; a hang ends when its held requests were answered), ms, all outages pooled", "",
           "| tool | outages | missed | of them ≥ 2 intervals | median | p99 | max | min | p99 \\|error\\| refused / 503 / hang | hang backlog max |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in details:
        e = d["error_ms"]
        k = d.get("by_kind", {})
        kinds = " / ".join(fmt(k.get(x, {}).get("abs_p99_ms")) for x in ("refused", "503", "hang"))
        longer = d.get("missed_two_intervals_or_longer")
        out.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            d["tool"], d["outages"], d["missed"], "–" if longer is None else longer,
            fmt(e["median"]), fmt(e["p99"]),
            fmt(e["max"]), fmt(e["min"]), kinds,
            fmt((d.get("hang_backlog_ms") or {}).get("max"))))
    return out


def render_injection(res):
    details = [d for r in res if r.get("group") == "injection" for d in (r.get("detail") or [])]
    if not details:
        return []
    # The parts each series is split into, in the order bench_inject.c gives them.
    parts = []
    for d in details:
        for p in (d.get("parts_ms") or {}):
            if p not in parts:
                parts.append(p)
    out = ["", "## Injection latency, ms (p99 of each part; parts do not add up to the total p99)", "",
           "| series | n | median | p99 | " + " | ".join(parts) + " | failures |",
           "|" + " --- |" * (5 + len(parts))]
    notes = []
    for d in details:
        if "total_ms" not in d:
            if d.get("load"):
                l = d["load"]
                notes.append("Background load started by the benchmark: %s CPU spinners and one writer"
                             " (%s), %s fsyncs in %s s; `/proc/loadavg` %s at its start, %s at its end"
                             " (the machine's other users included)." % (
                                 l.get("cpu_spinners"), l.get("disk_writer"), "{:,}".format(l.get("writer_fsyncs", 0)),
                                 fmt(l.get("seconds")), l.get("loadavg_start", "?"), l.get("loadavg_stop", "?")))
            if d.get("policy"):
                notes.append("The instant was kept with `%s` (%s)." % (d.get("mode"), d["policy"]))
            continue
        t = d["total_ms"]
        out.append("| %s | %d | %s | %s | %s | %d |" % (
            d["series"], t["n"], fmt(t["median"]), fmt(t["p99"]),
            " | ".join(fmt(d["parts_ms"].get(p, {}).get("p99")) for p in parts), d.get("failures", 0)))
        v = d.get("victim")
        if v:
            notes.append("%s: the victim ran during the call in %s of %s injections; its last work"
                         " was at most %s µs after t0 (negative: before)." % (
                             d["series"], v.get("running_during_inject"), v.get("measured"),
                             fmt(v.get("last_work_after_t0_max_us"))))
    if notes:
        out += [""] + notes
    return out


def render_probe_cost(res):
    details = [d for r in res if r.get("group") == "probe_cost" for d in (r.get("detail") or [])]
    if not details:
        return []
    out = ["", "## Probe cost, per prober and target count", "",
           "| tool | targets | probes | wall | CPU | CPU per 1,000 probes | probes/s | peak RSS |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in details:
        rss = fmt(d["peak_rss_kib"], "KiB") if d.get("peak_rss_kib", -1) >= 0 else "not measured"
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            d["tool"], "{:,}".format(d["targets"]), "{:,}".format(d["probes"]),
            fmt(d["wall_ms"] / 1000.0, "s"), fmt(d["cpu_ms"], "ms"), fmt(d["cpu_ms_per_1000"], "ms"),
            fmt(d["probes_per_s"]), rss))
    return out


def render_report(res):
    measured = [r for r in res if r.get("group") == "report" and "seconds" in r]
    if not measured:
        return []
    sizes = sorted({r["runs"] for r in measured})
    names = []
    for r in measured:
        if r["name"] not in names:
            names.append(r["name"])
    by = {(r["name"], r["runs"]): r for r in measured}
    out = ["", "## Report and gate over synthetic histories: wall time (GNU time, 10 ms resolution) / peak RSS", "",
           "| command | " + " | ".join("{:,} runs".format(n) for n in sizes) + " |",
           "|" + " --- |" * (1 + len(sizes))]
    for name in names:
        cells = []
        for n in sizes:
            r = by.get((name, n))
            cells.append("%s s / %s" % (r["seconds"], fmt(r["peak_rss_kib"], "KiB")) if r else "")
        out.append("| %s | %s |" % (name, " | ".join(cells)))
    return out


def render_readme_block(data):
    goals = [r for r in data["results"] if r.get("goal") is not None]
    met = sum(1 for r in goals if r.get("met"))
    out = ["Benchmarks of %s (%s): **%d of %d goals met**. Full tables, peers and how each"
           " peer differs: [docs/bench-results.md](docs/bench-results.md); method:"
           " [docs/bench.md](docs/bench.md)." % (data.get("generated_at", "")[:10], machine(data), met, len(goals)),
           ""]
    out += goal_table(goals, notes=False)
    return "\n".join(out)


def exit_code_table(cli_text):
    """The exit-code table of docs/cli.md (its "## Exit codes" section), the
    one place it is written."""
    m = re.search(r"(?m)^## Exit codes\n(.*?)(?=^## )", cli_text, re.S)
    if not m:
        raise GoalError("docs/cli.md has no '## Exit codes' section")
    rows = [l for l in m.group(1).splitlines() if l.startswith("|")]
    if not rows:
        raise GoalError("docs/cli.md's exit codes section has no table")
    return "\n".join(rows)


def readme_with_block(text, name, source, block):
    begin, end = BEGIN % (name, source), END % name
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise GoalError("README.md has no generated block '%s' (markers missing)" % name)
    return text[:i] + begin + "\n" + block + "\n" + text[j:]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def dump(data):
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--normalise", action="store_true", help="recompute goal rows and met in results.json")
    ap.add_argument("--check", action="store_true", help="exit 1 if anything generated is stale")
    ap.add_argument("--results", default=RESULTS)
    ap.add_argument("--page", default=PAGE)
    ap.add_argument("--readme", default=README)
    ap.add_argument("--cli", default=CLI)
    a = ap.parse_args()
    try:
        data = json.loads(read(a.results))
        norm = normalised(data)
        if a.normalise:
            write(a.results, dump(norm))
            return 0
        page = render_page(norm)
        readme = readme_with_block(read(a.readme), "bench", "bench/results.json", render_readme_block(norm))
        readme = readme_with_block(readme, "exit-codes", "docs/cli.md", exit_code_table(read(a.cli)))
        if not a.check:
            write(a.page, page)
            write(a.readme, readme)
            return 0
        stale = []
        if norm != data:
            stale.append("%s: goal rows or met differ from the figures (run ci/gen-docs.py --normalise)" % a.results)
        if not os.path.exists(a.page) or read(a.page) != page:
            stale.append("%s: stale (run ci/gen-docs.py)" % a.page)
        if read(a.readme) != readme:
            stale.append("%s: a generated block is stale (run ci/gen-docs.py)" % a.readme)
        for s in stale:
            print("gen-docs: " + s, file=sys.stderr)
        return 1 if stale else 0
    except (OSError, ValueError, KeyError, GoalError) as e:
        print("gen-docs: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
