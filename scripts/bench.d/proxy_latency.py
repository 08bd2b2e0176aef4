#!/usr/bin/env python3
"""HTTP round trips to a local server, timed one by one: each on a new
connection, then many on one kept connection. Through the proxy the
environment names (http_proxy), as a confined agent's API calls go, or
straight to the server without one. Prints one JSON line of p50/p99 in
microseconds. Used by scripts/bench sandbox.

    proxy_latency.py serve            # a server; prints its port, serves until killed
    proxy_latency.py PORT [N]         # N round trips of each kind (default 300)
"""
import http.client
import http.server
import json
import os
import sys
import time
from urllib.parse import urlsplit


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as an API client uses it
    disable_nagle_algorithm = True  # headers and body go in two writes

    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def connection(port):
    proxy = os.environ.get("http_proxy")
    if not proxy:
        return http.client.HTTPConnection("127.0.0.1", port), "/"
    parts = urlsplit(proxy)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    # A tunnel (CONNECT), as HTTPS to a model's API goes through it.
    conn.set_tunnel("127.0.0.1", port)
    return conn, "/"


def round_trip(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"status {response.status}")


def main():
    if sys.argv[1] == "serve":
        return serve()
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    fresh, kept = [], []
    for _ in range(n):
        start = time.perf_counter()
        conn, path = connection(port)
        round_trip(conn, path)
        fresh.append(time.perf_counter() - start)
        conn.close()
    conn, path = connection(port)
    round_trip(conn, path)
    for _ in range(n):
        start = time.perf_counter()
        round_trip(conn, path)
        kept.append(time.perf_counter() - start)
    us = lambda s: round(s * 1e6)
    print(json.dumps({
        "new_p50_us": us(percentile(fresh, 0.5)), "new_p99_us": us(percentile(fresh, 0.99)),
        "kept_p50_us": us(percentile(kept, 0.5)), "kept_p99_us": us(percentile(kept, 0.99)),
    }))


main()
