// Command sumdbcheck verifies a reprolog log's static read path (a bucket, a
// CDN, or the log itself) with Go's own golang.org/x/mod/sumdb packages, the
// code the go command trusts for the checksum database:
//
//   - the checkpoint's signature, with note.Open;
//   - every tile it reads, against the checkpoint, with tlog.TileHashReader;
//   - the root, with tlog.TreeHash;
//   - every entry of every entry bundle, with tlog.ProveRecord and CheckRecord;
//   - given an older checkpoint, that the log only grew, with tlog.ProveTree
//     and CheckTree.
//
// Paths follow C2SP tlog-tiles, which is Go's layout without the height
// segment ("tile/0/x001/234", not "tile/8/0/x001/234"); entry bundles are
// C2SP's (each entry after a big-endian uint16 length).
//
// Usage: sumdbcheck BASE_URL VERIFIER_KEY [OLD_CHECKPOINT_FILE]
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fail("usage: sumdbcheck BASE_URL VERIFIER_KEY [OLD_CHECKPOINT_FILE]")
	}
	base := strings.TrimSuffix(os.Args[1], "/")
	verifier, err := note.NewVerifier(os.Args[2])
	check(err, "verifier key")
	tree := openCheckpoint(get(base+"/checkpoint"), verifier)
	hr := tlog.TileHashReader(tree, &tileReader{base: base})
	root, err := tlog.TreeHash(tree.N, hr)
	check(err, "tree hash from tiles")
	if root != tree.Hash {
		fail("tiles give root %v, the checkpoint says %v", root, tree.Hash)
	}
	proven := int64(0)
	for start := int64(0); start < tree.N; start += 1 << height {
		width := min(tree.N-start, 1<<height)
		bundle := get(base + "/" + c2spPath(bundlePath(start>>height, width)))
		entries := parseBundle(bundle, width)
		for k, entry := range entries {
			index := start + int64(k)
			proof, err := tlog.ProveRecord(tree.N, index, hr)
			check(err, fmt.Sprintf("proving entry %d", index))
			err = tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(entry))
			check(err, fmt.Sprintf("entry %d", index))
			proven++
		}
	}
	grew := ""
	if len(os.Args) == 4 {
		text, err := os.ReadFile(os.Args[3])
		check(err, "old checkpoint")
		old := openCheckpoint(text, verifier)
		proof, err := tlog.ProveTree(tree.N, old.N, hr)
		check(err, "proving consistency")
		check(tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash), "consistency")
		grew = fmt.Sprintf("; consistent with size %d", old.N)
	}
	fmt.Printf("golang.org/x/mod/sumdb/tlog verified size %d root %v: %d entries proven%s\n",
		tree.N, tree.Hash, proven, grew)
}

// openCheckpoint verifies a C2SP checkpoint note and returns its tree.
func openCheckpoint(text []byte, v note.Verifier) tlog.Tree {
	n, err := note.Open(text, note.VerifierList(v))
	check(err, "checkpoint signature")
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		fail("checkpoint is not a checkpoint of %s", v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	check(err, "checkpoint size")
	hash, err := tlog.ParseHash(lines[2])
	check(err, "checkpoint root")
	return tlog.Tree{N: size, Hash: hash}
}

// tileReader fetches tiles over HTTP; TileHashReader authenticates them.
type tileReader struct{ base string }

func (r *tileReader) Height() int { return height }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = get(r.base + "/" + c2spPath(t.Path()))
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// c2spPath drops the height segment Go's sumdb puts in tile paths.
func c2spPath(goPath string) string {
	return strings.Replace(goPath, fmt.Sprintf("tile/%d/", height), "tile/", 1)
}

// bundlePath is the path of entry bundle n of the given width, in Go's form
// (level "data"), renamed to C2SP's "entries".
func bundlePath(n, width int64) string {
	t := tlog.Tile{H: height, L: -1, N: n, W: int(width)}
	return strings.Replace(t.Path(), "/data/", "/entries/", 1)
}

func parseBundle(data []byte, want int64) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			fail("entry bundle truncated")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			fail("entry bundle truncated")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	if int64(len(out)) != want {
		fail("entry bundle holds %d entries, want %d", len(out), want)
	}
	return out
}

func get(url string) []byte {
	resp, err := http.Get(url)
	check(err, "GET "+url)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<24))
	check(err, "GET "+url)
	if resp.StatusCode != http.StatusOK {
		fail("GET %s: %s", url, resp.Status)
	}
	return body
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sumdbcheck: "+format+"\n", args...)
	os.Exit(1)
}
