package anthropic

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/gif"  // registers GIF for image.DecodeConfig
	_ "image/jpeg" // registers JPEG
	_ "image/png"  // registers PNG
	"math"
	"strings"
)

// Anthropic's image sizing: an image is scaled down to fit a long edge of
// 1568 px and about 1.15 megapixels, then costs width*height/750 tokens.
const (
	imageMaxEdge   = 1568
	imageMaxPixels = 1_150_000
	imagePixelsPer = 750
)

// imageTokens estimates an image block's tokens from its pixel size, read
// from the header of base64 data (PNG, JPEG, GIF); anything else (a URL, a
// file id, WebP, unreadable data) costs imageTokensDefault.
func imageTokens(src *Source) int {
	if src == nil || src.Type != "base64" {
		return imageTokensDefault
	}
	w, h, ok := imageSize(src.Data)
	if !ok {
		return imageTokensDefault
	}
	fw, fh := float64(w), float64(h)
	if long := math.Max(fw, fh); long > imageMaxEdge {
		fw, fh = fw*imageMaxEdge/long, fh*imageMaxEdge/long
	}
	if px := fw * fh; px > imageMaxPixels {
		s := math.Sqrt(imageMaxPixels / px)
		fw, fh = fw*s, fh*s
	}
	return max(1, int(math.Ceil(fw*fh/imagePixelsPer)))
}

// imageHeaderChars is how much base64 is decoded to find an image's size: a
// JPEG may carry metadata (EXIF, ICC profiles) before its frame header.
const imageHeaderChars = 96 << 10

// imageSize reads width and height from the start of base64 image data.
func imageSize(data string) (int, int, bool) {
	if len(data) > imageHeaderChars {
		data = data[:imageHeaderChars]
	}
	data = strings.TrimRight(data[:len(data)/4*4], "=")
	raw, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil {
		return 0, 0, false
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// pdfMaxChars bounds the base64 PDF decoded to count its pages (48 MB of
// base64, Anthropic's request limit is 32 MB).
const pdfMaxChars = 48 << 20

// pdfTokens estimates a PDF document: pdfTokensPerPage for each page object
// found in base64 data, one page when none is found (compressed object
// streams hide them) or the source is not base64.
func pdfTokens(src *Source) int {
	if src.Type != "base64" || len(src.Data) > pdfMaxChars {
		return pdfTokensPerPage
	}
	raw, err := base64.StdEncoding.DecodeString(src.Data)
	if err != nil {
		return pdfTokensPerPage
	}
	return max(1, pdfPages(raw)) * pdfTokensPerPage
}

var (
	pdfType = []byte("/Type")
	pdfPage = []byte("/Page")
)

// pdfPages counts "/Type /Page" entries (not "/Pages") in a PDF.
func pdfPages(pdf []byte) int {
	n := 0
	for {
		i := bytes.Index(pdf, pdfType)
		if i < 0 {
			return n
		}
		rest := bytes.TrimLeft(pdf[i+len(pdfType):], " \t\r\n")
		if after, ok := bytes.CutPrefix(rest, pdfPage); ok && (len(after) == 0 || !isLetter(after[0])) {
			n++
		}
		pdf = pdf[i+len(pdfType):]
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
