package copilottest

import (
	"net/http"
	"testing"
)

// TestNewClosesWithTheTest: New's fake answers during the test and is
// closed by its cleanup, so no test leaves a server running.
func TestNewClosesWithTheTest(t *testing.T) {
	var url string
	var client *http.Client
	t.Run("uses the fake", func(t *testing.T) {
		s := New(t)
		url, client = s.URL(), s.Client()
		resp, err := client.Get(url + PathModels)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", PathModels, resp.StatusCode)
		}
	})
	if resp, err := client.Get(url + PathModels); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the fake still answers after its test ended: %d", resp.StatusCode)
	}
}
