package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"io"
	"os"
	"time"
)

// file is one archive entry: its name inside the archive, the file it is
// read from and its mode.
type file struct {
	Name string
	Path string
	Mode int64
}

// writeTarGz writes files into a gzipped tar, owned by root and dated
// mtime, in the order given. Each file is streamed, not read whole.
func writeTarGz(path string, files []file, mtime time.Time) error {
	return create(path, func(w io.Writer) error {
		gz, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		tw := tar.NewWriter(gz)
		for _, f := range files {
			err := copyFrom(f.Path, func(size int64) (io.Writer, error) {
				hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Size: size, ModTime: mtime,
					Typeflag: tar.TypeReg, Uname: "root", Gname: "root", Format: tar.FormatPAX}
				return tw, tw.WriteHeader(hdr)
			})
			if err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return gz.Close()
	})
}

// writeZip writes files into a zip (deflated, dated mtime), in the order
// given; no zip program is needed. Each file is streamed, not read whole.
func writeZip(path string, files []file, mtime time.Time) error {
	return create(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, f := range files {
			err := copyFrom(f.Path, func(int64) (io.Writer, error) {
				hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: mtime}
				hdr.SetMode(os.FileMode(f.Mode))
				return zw.CreateHeader(hdr)
			})
			if err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// copyFrom copies the file at path into the entry that open starts, which
// is given the file's size (a tar header needs it before the content).
func copyFrom(path string, open func(size int64) (io.Writer, error)) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := open(st.Size())
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	return err
}

// create writes a new file with fill, removing it again on failure.
func create(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
