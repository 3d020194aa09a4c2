package redislimits

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/internal/redistest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// BenchmarkAdmit measures an admission and its release (rpm, tpm and
// concurrency per key, over 100 keys; with and without global limits)
// through the LimitStore interface, 16 callers per CPU in parallel: the
// in-memory store against Redis on loopback (one script run per admission
// and one per release).
func BenchmarkAdmit(b *testing.B) {
	stores := []struct {
		name   string
		global bool
		store  func(b *testing.B) middleware.LimitStore
	}{
		{"memory", true, func(*testing.B) middleware.LimitStore { return middleware.NewMemoryLimits(nil) }},
		{"redis", true, func(b *testing.B) middleware.LimitStore { return newTestClient(b, redistest.Start(b)) }},
		{"memory/no global", false, func(*testing.B) middleware.LimitStore { return middleware.NewMemoryLimits(nil) }},
		{"redis/no global", false, func(b *testing.B) middleware.LimitStore { return newTestClient(b, redistest.Start(b)) }},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			benchAdmit(b, s.store(b), s.global)
		})
	}
}

func benchAdmit(b *testing.B, s middleware.LimitStore, global bool) {
	req := middleware.AdmitRequest{Key: middleware.KeyLimits{RPM: 1 << 30, TPM: 1 << 30, Concurrency: 1 << 20}}
	if global {
		req.GlobalRPM, req.GlobalConcurrency = 1<<30, 1<<20
	}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "key_" + strconv.Itoa(i)
	}
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := req
			r.KeyID = ids[next.Add(1)%int64(len(ids))]
			t, _, rej, err := s.Admit(ctx, r)
			if err != nil || rej != nil {
				b.Errorf("admission failed: %v %v", err, rej)
				return
			}
			t.Release(10, false)
		}
	})
}
