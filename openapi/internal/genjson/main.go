// Command genjson writes openapi.json from openapi.yaml (run by
// `go generate ./openapi`); the openapi package embeds both, so the gateway
// serves JSON without parsing YAML. A test fails when they differ.
package main

import (
	"fmt"
	"os"

	"github.com/copilot-proxy/copilot-proxy/openapi/internal/yamljson"
)

func main() {
	src, err := os.ReadFile("openapi.yaml")
	if err == nil {
		var out []byte
		if out, err = yamljson.Convert(src); err == nil {
			err = os.WriteFile("openapi.json", out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genjson:", err)
		os.Exit(1)
	}
}
