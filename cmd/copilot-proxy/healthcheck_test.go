package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	var out strings.Builder
	if err := run(context.Background(), []string{"healthcheck", ts.URL + "/readyz"}, envMap(nil), &out, io.Discard); err != nil || !strings.Contains(out.String(), "healthy") {
		t.Fatalf("ready: %v %q", err, out.String())
	}
	status = http.StatusServiceUnavailable
	if err := run(context.Background(), []string{"healthcheck", ts.URL + "/readyz"}, envMap(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("not ready: %v", err)
	}
	ts.Close()
	if err := run(context.Background(), []string{"healthcheck", ts.URL + "/readyz"}, envMap(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("a closed server passed")
	}
}
