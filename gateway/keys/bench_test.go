package keys

import (
	"testing"
	"time"
)

// BenchmarkAuthenticate measures the hot path; it should not allocate.
func BenchmarkAuthenticate(b *testing.B) {
	s := openURL(b, tempDB(b), Options{FlushInterval: time.Hour})
	for i := range 100 {
		mustCreate(b, s, CreateParams{Name: "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	ck := mustCreate(b, s, CreateParams{Name: "target"})
	miss := newSecret()
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok := s.Authenticate(ck.Secret); !ok {
					b.Fatal("rejected")
				}
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.Authenticate(miss); ok {
				b.Fatal("accepted")
			}
		}
	})
}

// BenchmarkRecord measures the request-path cost of usage accounting.
func BenchmarkRecord(b *testing.B) {
	s := openURL(b, tempDB(b), Options{FlushInterval: 50 * time.Millisecond})
	ck := mustCreate(b, s, CreateParams{Name: "alice"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := UsageRecord{KeyID: ck.ID, Model: "gpt-4o", PromptTokens: 100, CompletionTokens: 50}
		for pb.Next() {
			s.Record(r)
		}
	})
}

// TestAuthenticateAllocs holds the zero-allocation goal of the hit path.
func TestAuthenticateAllocs(t *testing.T) {
	s := openURL(t, tempDB(t), Options{})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	if n := testing.AllocsPerRun(100, func() { s.Authenticate(ck.Secret) }); n != 0 {
		t.Errorf("Authenticate allocates %.1f times per call", n)
	}
}
