package gateway

import (
	"bufio"
	"context"
	"time"
)

// relayEvents is the relay loop without the event-idle guard, as the
// tests, fuzz targets and benchmarks drive it (with a pool of event
// buffers, as the relayer has).
func relayEvents(ctx context.Context, br *bufio.Reader, out *streamWriter, d *dialect, now func() time.Time) relayResult {
	return *relayGuarded(ctx, br, out, d, now, nil, new(eventBuffers))
}

// translateEvents is the translating loop without the event-idle guard.
func translateEvents(ctx context.Context, br *bufio.Reader, out *streamWriter, tr translator, now func() time.Time) relayResult {
	return translateGuarded(ctx, br, out, tr, now, nil)
}
