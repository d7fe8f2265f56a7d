// Writes release archives the way goreleaser does, with Go's own
// archive/tar, compress/gzip and archive/zip: writers.go OUT_DIR FILE...
// makes OUT_DIR/go.tar.gz and OUT_DIR/go.zip holding each FILE by base name.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"os"
	"path/filepath"
	"time"
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	out := os.Args[1]
	files := os.Args[2:]
	tgz, err := os.Create(filepath.Join(out, "go.tar.gz"))
	must(err)
	gz := gzip.NewWriter(tgz)
	tw := tar.NewWriter(gz)
	zf, err := os.Create(filepath.Join(out, "go.zip"))
	must(err)
	zw := zip.NewWriter(zf)
	for _, f := range files {
		data, err := os.ReadFile(f)
		must(err)
		name := "app_1.0.0/" + filepath.Base(f)
		must(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}))
		_, err = tw.Write(data)
		must(err)
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		must(err)
		_, err = w.Write(data)
		must(err)
	}
	must(tw.Close())
	must(gz.Close())
	must(tgz.Close())
	must(zw.Close())
	must(zf.Close())
}
