#!/usr/bin/env python3
"""Writes a small Go "release" into a file-based GOPROXY directory.

Two modules, in the layout of https://go.dev/ref/mod#goproxy-protocol:
  example.com/greet v1.0.0   a library
  example.com/hello v1.0.0   a command that depends on it (its go.sum pins greet)
h1: sums are computed as golang.org/x/mod/sumdb/dirhash.Hash1 does.
A second directory, if given, gets a tampered copy of example.com/hello v1.0.0
(one changed line that the published source does not have), as a compromised
proxy or build machine would serve it.
Usage: demo_release.py PROXY_DIR [TAMPERED_PROXY_DIR]
"""
import base64
import hashlib
import io
import json
import os
import sys
import zipfile


def h1(files):
    """dirhash.Hash1 over {name: bytes}."""
    summary = "".join(
        f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files)
    )
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def publish(proxy, path, version, files):
    """Publishes path@version; returns its go.sum lines."""
    d = os.path.join(proxy, path, "@v")
    os.makedirs(d, exist_ok=True)
    prefixed = {f"{path}@{version}/{name}": data.encode() for name, data in files.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in sorted(prefixed.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    with open(os.path.join(d, f"{version}.zip"), "wb") as f:
        f.write(buf.getvalue())
    with open(os.path.join(d, f"{version}.mod"), "w") as f:
        f.write(files["go.mod"])
    with open(os.path.join(d, f"{version}.info"), "w") as f:
        json.dump({"Version": version, "Time": "2026-01-01T00:00:00Z"}, f)
    with open(os.path.join(d, "list"), "a") as f:
        f.write(version + "\n")
    mod_sum = h1({"go.mod": files["go.mod"].encode()})
    return f"{path} {version} {h1(prefixed)}\n{path} {version}/go.mod {mod_sum}\n"


def hello_files(greet_sums, extra=""):
    return {
        "go.mod": "module example.com/hello\n\ngo 1.22\n\nrequire example.com/greet v1.0.0\n",
        "go.sum": greet_sums,
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
                   '// version is set at release time with -ldflags=-X main.version=...\n'
                   'var version = "dev"\n\n'
                   'func main() { fmt.Println(greet.Hello("reprolog"), version)' + extra + ' }\n',
    }


def main():
    greet = {
        "go.mod": "module example.com/greet\n\ngo 1.22\n",
        "greet.go": 'package greet\n\n// Hello greets.\nfunc Hello(who string) string { return "hello, " + who }\n',
    }
    proxy = sys.argv[1]
    greet_sums = publish(proxy, "example.com/greet", "v1.0.0", greet)
    publish(proxy, "example.com/hello", "v1.0.0", hello_files(greet_sums))
    if len(sys.argv) > 2:
        tampered = sys.argv[2]
        publish(tampered, "example.com/greet", "v1.0.0", greet)
        publish(tampered, "example.com/hello", "v1.0.0",
                hello_files(greet_sums, '; fmt.Println("(and something the source does not say)")'))


if __name__ == "__main__":
    main()
