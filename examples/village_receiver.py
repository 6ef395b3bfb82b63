"""A village system's copy of its village, kept by webhooks (needs `pip install standardwebhooks`).

DINSOS_WEBHOOK_SECRET=whsec_... COPY_FILE=copy.json python village_receiver.py 8080
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["DINSOS_WEBHOOK_SECRET"])  # after a rotation, the old or the new
copy_file = Path(os.environ.get("COPY_FILE", "copy.json"))
copy = json.loads(copy_file.read_text()) if copy_file.exists() else {"records": {}, "seen": []}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            change = webhook.verify(body, dict(self.headers))["data"]
        except WebhookVerificationError:
            return self.send_error(400, "bad signature")
        key, records = f"{change['entity']}/{change['record_id']}", copy["records"]
        if self.headers["webhook-id"] not in copy["seen"]:  # a retry or redelivery: done already
            if change["action"] == "leave":  # it moved out of the village: drop it
                records.pop(key, None)
            elif change["version"] >= records.get(key, {}).get("version", 0):  # never go back
                records[key] = change["record"]
            copy["seen"].append(self.headers["webhook-id"])
            saving = copy_file.with_suffix(".saving")  # saved whole or not at all
            saving.write_text(json.dumps(copy))
            saving.replace(copy_file)  # only then answer 2xx: nothing is lost
        self.send_response(204)
        self.end_headers()


HTTPServer(("", int(sys.argv[1])), Receiver).serve_forever()
