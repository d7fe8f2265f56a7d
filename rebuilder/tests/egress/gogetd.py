"""A `?go-get=1` server for rebuilder/tests/egress.rs, on 127.0.0.2:443 over TLS.

Every page names, or redirects to, a loopback address the node must refuse.
Each request's path is appended to LOG, so the test sees the node reached this
(allowed) server and went no further.

usage: gogetd.py CERT KEY TARGET_PORT LOG
"""
import http.server
import os
import ssl
import sys
import threading

cert, key, port, log = sys.argv[1:5]

META = {
    "/meta-v4": f"https://127.0.0.1:{port}/repo",
    "/meta-v6": f"https://[::1]:{port}/repo",
    "/meta-mapped": f"https://[::ffff:127.0.0.1]:{port}/repo",
    "/meta-localhost": f"https://localhost:{port}/repo",
    "/meta-hex": f"https://0x7f000001:{port}/repo",
    "/meta-ssh": f"ssh://git@127.0.0.1:{port}/repo",
}
REDIRECT = {
    "/redirect": f"https://127.0.0.1:{port}/elsewhere",
    "/redirect-v6": f"https://[::1]:{port}/elsewhere",
    "/redirect-http": "http://127.0.0.2/insecure",
    "/redirect-self": "/redirect-self?go-get=1",
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        path = self.path.split("?")[0]
        if path in META:
            body = (
                "<!DOCTYPE html><html><head>"
                f'<meta name="go-import" content="127.0.0.2{path} git {META[path]}">'
                "</head></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path in REDIRECT:
            self.send_response(302)
            self.send_header("Location", REDIRECT[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.2", 443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
# The test holds our stdin open for its whole life: when it ends, so do we.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
print("ready", flush=True)
server.serve_forever()
