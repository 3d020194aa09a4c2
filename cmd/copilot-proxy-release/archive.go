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
// mtime, in the order given.
func writeTarGz(path string, files []file, mtime time.Time) error {
	return create(path, func(w io.Writer) error {
		gz, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		tw := tar.NewWriter(gz)
		for _, f := range files {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				return err
			}
			hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(b)), ModTime: mtime,
				Typeflag: tar.TypeReg, Uname: "root", Gname: "root", Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
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
// given; no zip program is needed.
func writeZip(path string, files []file, mtime time.Time) error {
	return create(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, f := range files {
			hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: mtime}
			hdr.SetMode(os.FileMode(f.Mode))
			dst, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			src, err := os.Open(f.Path)
			if err != nil {
				return err
			}
			_, err = io.Copy(dst, src)
			src.Close()
			if err != nil {
				return err
			}
		}
		return zw.Close()
	})
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
