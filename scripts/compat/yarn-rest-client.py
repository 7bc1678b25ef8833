"""A real YARN REST client (PyPI's yarn-api-client, as Jupyter Enterprise Gateway and others use
it) against a yarn-sim ResourceManager: every call it makes must succeed and return YARN's
shapes. Simple auth as Hadoop's PseudoAuthenticator does it: `user.name` on every request.

usage: yarn-rest-client.py http://127.0.0.1:<rm port> <user>
"""
import sys
import time

import requests
from yarn_api_client import ResourceManager

URL, USER = sys.argv[1], sys.argv[2]


class SimpleAuth(requests.auth.AuthBase):
    def __call__(self, r):
        sep = "&" if "?" in r.url else "?"
        r.url = f"{r.url}{sep}user.name={USER}"
        return r


rm = ResourceManager(service_endpoints=[URL], auth=SimpleAuth())
failures = 0


def check(what, fn, *keys):
    """Calls fn, then walks `keys` into its JSON; a missing key or an error is a failure."""
    global failures
    try:
        data = fn().data
        v = data
        for k in keys:
            v = v[k]
        print(f"ok    {what}")
        return data
    except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
        failures += 1
        print(f"FAIL  {what}: {type(e).__name__}: {e}")
        return None


check("cluster_information", rm.cluster_information, "clusterInfo", "state")
check("cluster_metrics", rm.cluster_metrics, "clusterMetrics", "activeNodes")
check("cluster_scheduler", rm.cluster_scheduler, "scheduler", "schedulerInfo", "type")
check("cluster_nodes", rm.cluster_nodes, "nodes", "node")
nodes = rm.cluster_nodes().data["nodes"]["node"]
check("cluster_node", lambda: rm.cluster_node(nodes[0]["id"]), "node", "state")
new = check("cluster_new_application", rm.cluster_new_application, "application-id")
app = new["application-id"] if new else None
body = {
    "application-id": app,
    "application-name": "compat",
    "application-type": "YARN",
    "queue": "default",
    "resource": {"memory": 128, "vCores": 1},
    "am-container-spec": {"commands": {"command": "sleep 60"}},
}
check("cluster_submit_application", lambda: rm.cluster_submit_application(body))
# `sleep` never registers as an ApplicationMaster, so the app stays ACCEPTED (as on YARN) while
# its AM container runs; wait for that container.
attempt0 = app.replace("application_", "appattempt_") + "_000001" if app else None
deadline = time.time() + 20
while app and time.time() < deadline:
    try:
        cs0 = rm.cluster_application_attempt_containers(app, attempt0).data["containers"]["container"]
        if cs0 and cs0[0]["containerState"] == "RUNNING":
            break
    except Exception:  # noqa: BLE001 - not there yet
        pass
    time.sleep(0.1)
st = check("cluster_application_state", lambda: rm.cluster_application_state(app), "state")
if st is not None and st != {"state": "ACCEPTED"}:
    failures += 1
    print(f"FAIL  cluster_application_state: expected {{'state': 'ACCEPTED'}}, got {st}")
check("cluster_applications", lambda: rm.cluster_applications(states=["ACCEPTED"]), "apps", "app")
check("cluster_application", lambda: rm.cluster_application(app), "app", "id")
check("cluster_application_statistics", rm.cluster_application_statistics, "appStatInfo", "statItem")
att = check("cluster_application_attempts", lambda: rm.cluster_application_attempts(app), "appAttempts", "appAttempt")
attempt = att["appAttempts"]["appAttempt"][0]["appAttemptId"] if att else None
check("cluster_application_attempt_info", lambda: rm.cluster_application_attempt_info(app, attempt), "appAttempt", "appAttemptId")
cs = check("cluster_application_attempt_containers", lambda: rm.cluster_application_attempt_containers(app, attempt), "containers", "container")
cid = cs["containers"]["container"][0]["containerId"] if cs else None
check("cluster_application_attempt_container_info", lambda: rm.cluster_application_attempt_container_info(app, attempt, cid), "container", "containerId")
check("cluster_get_application_queue", lambda: rm.cluster_get_application_queue(app), "queue")
check("cluster_get_application_priority", lambda: rm.cluster_get_application_priority(app), "priority")
check("cluster_application_timeouts", lambda: rm.cluster_application_timeouts(app), "timeouts", "timeout")
check("cluster_application_kill", lambda: rm.cluster_application_kill(app), "state")
deadline = time.time() + 20
while app and time.time() < deadline and rm.cluster_application_state(app).data.get("state") != "KILLED":
    time.sleep(0.1)
st = rm.cluster_application_state(app).data if app else None
if st != {"state": "KILLED"}:
    failures += 1
    print(f"FAIL  kill: expected {{'state': 'KILLED'}}, got {st}")
print(f"yarn-api-client: {failures} failure(s)")
sys.exit(1 if failures else 0)
