"""Extracts an archive with Python's tarfile or zipfile, as people do:
extract.py tar|zip ARCHIVE DIR. Exits 1 (message on stderr) if the
module refuses it; what it wrote before that stays in DIR."""
import sys
import tarfile
import zipfile

kind, archive, out = sys.argv[1:4]
try:
    if kind == "tar":
        with tarfile.open(archive) as t:
            if hasattr(tarfile, "data_filter"):
                t.extractall(out, filter="tar")
            else:
                t.extractall(out)
    else:
        with zipfile.ZipFile(archive) as z:
            z.extractall(out)
except Exception as e:  # any refusal: the test only reads what was written
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
