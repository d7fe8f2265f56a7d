"""What Python's tarfile and zipfile would write when extracting archives,
computed in memory: the oracle of the `archive_python` fuzz target.

Reads archives from stdin, each as an 8-byte little-endian length and the
bytes; answers each with, for tarfile then zipfile, a line `<reader> ok`,
`<reader> fail` (it raised: what it wrote before that still counts, as on
disk) or `<reader> none` (it does not read this file at all), then a line
`f <sha256 hex> <path as hex>` per regular file it would leave, and a line
`.` at the end. Paths are normalized as extraction resolves them (empty and
`.` components dropped); a later member with the same path replaces an
earlier one, as an extractor overwrites it.
"""
import hashlib
import io
import sys
import tarfile
import zipfile


def norm(name):
    return "/".join(c for c in name.split("/") if c not in ("", "."))


def read_all(f, sink):
    h = hashlib.sha256()
    try:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            h.update(chunk)
    finally:
        sink(h.hexdigest())


def from_tar(data, files):
    try:
        t = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except Exception:
        return "none"
    try:
        for m in t:
            if m.isreg() or m.type not in tarfile.SUPPORTED_TYPES:
                path = norm(m.name)
                f = t.extractfile(m)
                if f is None:
                    continue
                read_all(f, lambda h, p=path: files.__setitem__(p, h))
        return "ok"
    except Exception:
        return "fail"


def from_zip(data, files):
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        return "none"
    try:
        for info in z.infolist():
            if info.is_dir():
                continue
            path = norm(info.filename)
            with z.open(info) as f:
                read_all(f, lambda h, p=path: files.__setitem__(p, h))
        return "ok"
    except Exception:
        return "fail"


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        data = stdin.read(int.from_bytes(head, "little"))
        for name, reader in (("tar", from_tar), ("zip", from_zip)):
            files = {}
            status = reader(data, files)
            stdout.write(f"{name} {status}\n")
            for path, digest in files.items():
                stdout.write(f"f {digest} {path.encode('utf-8', 'surrogateescape').hex()}\n")
        stdout.write(".\n")
        stdout.flush()


if __name__ == "__main__":
    main()
