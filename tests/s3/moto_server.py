"""moto's S3 server for Lode's tests (DESIGN §7), on 127.0.0.1.

- Every request is served under one lock: moto's conditional PUT (If-None-Match: *) checks and
  then writes, so without the lock two racing writers could both win.
- Requests must carry the access key given with --access-key (403 InvalidAccessKeyId
  otherwise), so that tests can check what bad credentials do.
- A fault switch for tests: GET /__lode_fault__/errors makes every request fail with 503,
  /__lode_fault__/stall/<seconds> delays every request (then serves it), /__lode_fault__/none
  heals.

Prints `ready <port>` once it serves.
"""

import argparse
import re
import sys
import threading
import time

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.serving import make_server

UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
    b"<Message>injected by the Lode test harness</Message></Error>"
)
BAD_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>'
    b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>"
)
CREDENTIAL = re.compile(r"Credential=([^/]+)/")


class Harness:
    """WSGI middleware: the lock, the access key check and the fault switch."""

    def __init__(self, app, access_key):
        self.app = app
        self.access_key = access_key
        self.lock = threading.Lock()
        self.mode = "none"
        self.stall_seconds = 0.0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__lode_fault__/"):
            parts = path.split("/")[2:]
            self.mode = parts[0]
            self.stall_seconds = float(parts[1]) if len(parts) > 1 else 0.0
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if self.mode == "errors":
            start_response("503 Service Unavailable", [("Content-Type", "application/xml")])
            return [UNAVAILABLE]
        if self.mode == "stall":
            time.sleep(self.stall_seconds)
        found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None or found.group(1) != self.access_key:
            start_response("403 Forbidden", [("Content-Type", "application/xml")])
            return [BAD_KEY]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        with self.lock:
            result = self.app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        start_response(captured["status"], captured["headers"])
        return [body]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[])
    parser.add_argument("--access-key", default="lode-test-key")
    parser.add_argument("--secret-key", default="lode-test-secret")
    args = parser.parse_args()

    server = make_server(
        "127.0.0.1", args.port, Harness(create_backend_app("s3"), args.access_key), threaded=True
    )
    port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required"),
    )
    for bucket in args.bucket:
        s3.create_bucket(Bucket=bucket)
    print(f"ready {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
