#!/usr/bin/env python3
"""REST load for `make bench` (scripts/bench-rest.sh).

  restload.py load --clients 50 --secs 10 URL...
      CLIENTS threads, each with its own keep-alive connection, GET the URLs round-robin for
      SECS seconds; prints one line: requests, requests/s, errors (non-2xx or I/O), p50, p99 ms.
  restload.py fill --rm http://127.0.0.1:PORT --apps N [--threads 8]
      creates N finished applications: new-application, submit (unmanaged AM, so no
      container), kill; prints how many ended KILLED.
"""
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def conn_for(url):
    u = urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30), u


def path_of(u):
    return u.path + ("?" + u.query if u.query else "")


def load(clients, secs, urls):
    lat, errors, lock = [], [0], threading.Lock()
    stop_at = time.time() + secs

    def worker(k):
        mine, errs = [], 0
        conns = {}
        i = k
        while time.time() < stop_at:
            url = urls[i % len(urls)]
            i += 1
            u = urlsplit(url)
            key = (u.hostname, u.port)
            try:
                c = conns.get(key)
                if c is None:
                    c = conns[key] = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                t0 = time.perf_counter()
                c.request("GET", path_of(u), headers={"Accept": "application/json"})
                r = c.getresponse()
                r.read()
                mine.append((time.perf_counter() - t0) * 1000)
                if not 200 <= r.status < 300:
                    errs += 1
            except Exception:
                errs += 1
                conns.pop(key, None)
        with lock:
            lat.extend(mine)
            errors[0] += errs

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    n = len(lat)
    pct = lambda p: lat[min(n - 1, int(p * n))] if n else 0.0
    print(f"requests={n} rps={n / secs:.0f} errors={errors[0]} p50={pct(0.50):.1f} p99={pct(0.99):.1f}")


def fill(rm, apps, threads):
    done, lock = [0], threading.Lock()
    per = [apps // threads + (1 if k < apps % threads else 0) for k in range(threads)]

    def worker(count):
        c, u = conn_for(rm)

        def call(method, path, body=None):
            h = {"Accept": "application/json"}
            if body is not None:
                h["Content-Type"] = "application/json"
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
            r = c.getresponse()
            return r.status, r.read()

        for _ in range(count):
            s, b = call("POST", "/ws/v1/cluster/apps/new-application?user.name=bench")
            app = json.loads(b)["application-id"]
            ctx = {"application-id": app, "application-name": "retained", "unmanaged-AM": True,
                   "am-container-spec": {"commands": {"command": "true"}}}
            s, _ = call("POST", "/ws/v1/cluster/apps?user.name=bench", ctx)
            if s != 202:
                continue
            for _ in range(100):
                s, b = call("PUT", f"/ws/v1/cluster/apps/{app}/state?user.name=bench", {"state": "KILLED"})
                if s == 200:
                    with lock:
                        done[0] += 1
                    break
                time.sleep(0.01)

    ts = [threading.Thread(target=worker, args=(n,)) for n in per]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"killed={done[0]}")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("load", "fill"):
        sys.exit(__doc__)
    opts, rest, i = {}, [], 2
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    if argv[1] == "load":
        load(int(opts.get("clients", 50)), float(opts.get("secs", 10)), rest)
    else:
        fill(opts["rm"], int(opts["apps"]), int(opts.get("threads", 8)))


if __name__ == "__main__":
    main(sys.argv)
