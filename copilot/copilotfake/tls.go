package copilotfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// WithTLS serves the fake over TLS with HTTP/2, as Copilot's API is served,
// with a self-signed certificate made at start for 127.0.0.1 and localhost
// (CACertPEM; Client trusts it). maxStreams, when > 0, caps the concurrent
// streams per HTTP/2 connection (Go's default is 250), so a test can see a
// client open a second connection when one is full.
func WithTLS(maxStreams int) Option {
	return func(c *config) { c.tls, c.maxStreams = true, maxStreams }
}

// start starts serving: plain HTTP/1.1, or TLS with HTTP/2.
func (s *Server) start() {
	if !s.initial.tls {
		s.ls.serve(nil, 0, nil)
		return
	}
	cert, pemBytes := selfSigned()
	s.caPEM = pemBytes
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	s.ls.serve(cfg, s.initial.maxStreams, pemBytes)
}

// CACertPEM is the PEM of the certificate the fake serves TLS with (nil
// without WithTLS): what a client must trust, e.g. the gateway's
// --upstream-ca file.
func (s *Server) CACertPEM() []byte { return s.caPEM }

// selfSigned makes a fresh ECDSA P-256 certificate for 127.0.0.1, ::1 and
// localhost, valid for a day, and its PEM.
func selfSigned() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("copilotfake: " + err.Error())
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "copilotfake fake Copilot"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("copilotfake: " + err.Error())
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes
}
