#!/usr/bin/env python3
"""Splits a real `yarn-session.sh -d` on yarn-sim into the JVMs' time and yarn-sim's share,
from the RM's and NodeManagers' logs (each line: epoch seconds, address, event, details).

usage: deploy-timeline.py WORK_DIR APP_ID T0_NS T1_NS
  T0_NS / T1_NS: when yarn-session.sh started and when it returned (epoch nanoseconds).
Prints one line per phase and a summary line `yarn-sim share: N ms of M ms`."""
import glob
import sys

work, app, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1e9, int(sys.argv[4]) / 1e9
seq = app[len("application_"):]
am = f"container_{seq}_01_000001"
attempt = f"appattempt_{seq}_000001"


def first(paths, *needles):
    for p in paths:
        for line in open(p, errors="replace"):
            if all(n in line for n in needles):
                return float(line.split()[0])
    raise SystemExit(f"deploy-timeline: no line with {needles} in {paths}")


rm = [f"{work}/logs/resourcemanager.log"]
nms = sorted(glob.glob(f"{work}/logs/nodemanager-*.log"))
t_new = first(rm, "rm.app.new", app)
t_submit = first(rm, "rm.app.state", app, "NEW->NEW_SAVING")
t_alloc = first(rm, "rm.container.state", am, "NEW->ALLOCATED")
t_nm = first(nms, "nm.container", am, "NEW -> LOCALIZING")
t_localized = first(nms, "nm.container", am, "LOCALIZING -> LOCALIZED")
t_running = first(nms, "nm.container", am, "LOCALIZED -> RUNNING")
t_registered = first(rm, "rm.attempt.state", attempt, "->RUNNING")
ms = lambda a, b: (b - a) * 1000  # noqa: E731
phases = [
    ("JVM", "the client JVM starts, reads its configuration, asks for an application id", ms(t0, t_new)),
    ("JVM", "the client uploads the distribution and submits", ms(t_new, t_submit)),
    ("yarn-sim", "the RM places the AM container (asynchronous scheduling)", ms(t_submit, t_alloc)),
    ("yarn-sim", "the RM's AMLauncher starts it on the NodeManager", ms(t_alloc, t_nm)),
    ("yarn-sim", "the NodeManager localizes the AM's files (copies, as YARN does)", ms(t_nm, t_localized)),
    ("yarn-sim", "the NodeManager writes the launch script and starts the process", ms(t_localized, t_running)),
    ("JVM", "the JobManager JVM starts and registers with the RM", ms(t_running, t_registered)),
    ("JVM", "the client notices (it polls the application report every 250 ms) and exits", ms(t_registered, t1)),
]
for who, what, d in phases:
    print(f"  {d:8.1f} ms  {who:8}  {what}")
share = sum(d for who, _, d in phases if who == "yarn-sim")
local = ms(t_nm, t_localized)
print(f"yarn-sim share: {share:.0f} ms of {ms(t0, t1):.0f} ms ({share - local:.0f} ms without the localization copy)")
