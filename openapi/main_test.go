package openapi_test

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// kin-openapi decodes response bodies by media type; the stream, the
	// page and the Prometheus text are checked as plain strings. Registered
	// here, before any test runs, because the registry is kin-openapi's own.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	goleak.VerifyTestMain(m)
}
