package keys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testCreateGetList(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})

	exp := clk.Now().Add(30 * 24 * time.Hour)
	alice := mustCreate(t, s, CreateParams{
		Name: "alice", ExpiresAt: &exp, RPM: ptr(10), TPM: ptr(0), Concurrency: ptr(2),
		Models: []string{"gpt-4o", "claude-3.5-sonnet", "gpt-4o"},
	})
	clk.Advance(time.Second)
	bob := mustCreate(t, s, CreateParams{Name: "bob@example.com"})

	if !regexp.MustCompile(`^key_[a-z2-7]{12}$`).MatchString(alice.ID) {
		t.Errorf("id %q has the wrong shape", alice.ID)
	}
	if want := "cpk_…" + alice.Secret[len(alice.Secret)-4:]; alice.Hint != want {
		t.Errorf("hint = %q, want %q", alice.Hint, want)
	}
	if !alice.CreatedAt.Equal(newClock().Now()) || alice.ExpiresAt == nil || !alice.ExpiresAt.Equal(exp) {
		t.Errorf("times: created %v expires %v", alice.CreatedAt, alice.ExpiresAt)
	}
	if *alice.RPM != 10 || *alice.TPM != 0 || *alice.Concurrency != 2 {
		t.Errorf("limits: %d %d %d", *alice.RPM, *alice.TPM, *alice.Concurrency)
	}
	if want := []string{"gpt-4o", "claude-3.5-sonnet"}; !reflect.DeepEqual(alice.Models, want) {
		t.Errorf("models = %q, want %q (deduplicated, in order)", alice.Models, want)
	}
	if bob.RPM != nil || bob.TPM != nil || bob.Concurrency != nil || bob.Models != nil || bob.ExpiresAt != nil {
		t.Errorf("unset options not nil: %+v", bob.Key)
	}

	// Get by id, by name, by name in another case, by full secret.
	for _, ref := range []string{alice.ID, "alice", "ALICE", alice.Secret} {
		got, err := s.Get(ctx, ref)
		if err != nil {
			t.Errorf("Get(%.8s…): %v", ref, err)
			continue
		}
		if !reflect.DeepEqual(got, alice.Key) {
			t.Errorf("Get(%.8s…) = %+v\nwant %+v", ref, got, alice.Key)
		}
	}

	list, err := s.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != alice.ID || list[1].ID != bob.ID {
		t.Fatalf("List order: %+v", list)
	}
	if !reflect.DeepEqual(list[0].Key, alice.Key) {
		t.Errorf("List[0] = %+v\nwant %+v", list[0].Key, alice.Key)
	}
	if n, err := s.CountKeys(ctx); err != nil || n != 2 {
		t.Errorf("CountKeys = %d, %v", n, err)
	}
}

func testListEmpty(t *testing.T, newDB func(*testing.T) string) {
	s := openURL(t, newDB(t), Options{})
	list, err := s.List(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list)
	if string(b) != "[]" {
		t.Errorf("empty list marshals as %s, want []", b)
	}
	if n, err := s.CountKeys(context.Background()); err != nil || n != 0 {
		t.Errorf("CountKeys = %d, %v", n, err)
	}
}

func testCreateInvalid(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	mustCreate(t, s, CreateParams{Name: "taken"})
	past := clk.Now().Add(-time.Minute)
	now := clk.Now()

	tests := []struct {
		name string
		p    CreateParams
		want error
	}{
		{"empty name", CreateParams{Name: ""}, ErrInvalid},
		{"long name", CreateParams{Name: strings.Repeat("a", 65)}, ErrInvalid},
		{"space in name", CreateParams{Name: "bad name"}, ErrInvalid},
		{"slash in name", CreateParams{Name: "a/b"}, ErrInvalid},
		{"unicode name", CreateParams{Name: "zoë"}, ErrInvalid},
		{"secret-like name", CreateParams{Name: "cpk_abc"}, ErrInvalid},
		{"id-like name", CreateParams{Name: "key_abcdefghijkl"}, ErrInvalid},
		{"negative rpm", CreateParams{Name: "n1", RPM: ptr(-1)}, ErrInvalid},
		{"negative tpm", CreateParams{Name: "n2", TPM: ptr(-5)}, ErrInvalid},
		{"negative concurrency", CreateParams{Name: "n3", Concurrency: ptr(-1)}, ErrInvalid},
		{"huge rpm", CreateParams{Name: "n4", RPM: ptr(math.MaxInt)}, ErrInvalid},
		{"expiry in the past", CreateParams{Name: "n5", ExpiresAt: &past}, ErrInvalid},
		{"expiry now", CreateParams{Name: "n6", ExpiresAt: &now}, ErrInvalid},
		{"empty model", CreateParams{Name: "n7", Models: []string{"gpt-4o", ""}}, ErrInvalid},
		{"model with comma", CreateParams{Name: "n8", Models: []string{"a,b"}}, ErrInvalid},
		{"model with space", CreateParams{Name: "n9", Models: []string{"gpt 4"}}, ErrInvalid},
		{"duplicate name", CreateParams{Name: "taken"}, ErrDuplicateName},
		{"duplicate name other case", CreateParams{Name: "TAKEN"}, ErrDuplicateName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(ctx, tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want.Error()+": ") {
				t.Errorf("message %q lacks detail", err)
			}
		})
	}
	if list, _ := s.List(ctx, time.Time{}); len(list) != 1 {
		t.Errorf("failed creates left %d keys", len(list))
	}

	// Valid edge cases.
	for _, p := range []CreateParams{
		{Name: strings.Repeat("a", 64)},
		{Name: "a.b_c@d-e"},
		{Name: "key_notanid"},
		{Name: "zero", RPM: ptr(0), TPM: ptr(0), Concurrency: ptr(0)},
		{Name: "nomodels", Models: []string{}},
	} {
		if _, err := s.Create(ctx, p); err != nil {
			t.Errorf("Create(%q): %v", p.Name, err)
		}
	}
}

func testNotFound(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	s := openURL(t, newDB(t), Options{})
	unknownSecret := newSecret()
	for _, ref := range []string{"nobody", "key_aaaaaaaaaaaa", unknownSecret, "", "a b c"} {
		_, errGet := s.Get(ctx, ref)
		_, errRevoke := s.Revoke(ctx, ref)
		_, errRotate := s.Rotate(ctx, ref, 0)
		_, errUsage := s.Usage(ctx, UsageQuery{Key: ref})
		if ref == "" {
			errUsage = ErrNotFound // "" means all keys there
		}
		for _, err := range []error{errGet, errRevoke, errRotate, errUsage} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%q: err = %v, want ErrNotFound", ref, err)
			}
			if err != nil && strings.Contains(err.Error(), unknownSecret[4:]) {
				t.Errorf("error message carries the secret: %q", err)
			}
		}
	}
}

func testRevoke(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	ck := mustCreate(t, s, CreateParams{Name: "alice"})
	if _, ok := s.Authenticate(ck.Secret); !ok {
		t.Fatal("fresh key does not authenticate")
	}
	clk.Advance(time.Minute)
	revokedAt := clk.Now()
	k, err := s.Revoke(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if k.RevokedAt == nil || !k.RevokedAt.Equal(revokedAt) {
		t.Errorf("RevokedAt = %v, want %v", k.RevokedAt, revokedAt)
	}
	// Effective at once in this store.
	if _, ok := s.Authenticate(ck.Secret); ok {
		t.Error("revoked key authenticates")
	}
	// Idempotent: a second revoke returns the key unchanged.
	clk.Advance(time.Minute)
	k2, err := s.Revoke(ctx, ck.ID)
	if err != nil || k2.RevokedAt == nil || !k2.RevokedAt.Equal(revokedAt) {
		t.Errorf("second Revoke = %v, %v; want original RevokedAt %v", k2.RevokedAt, err, revokedAt)
	}
	// Kept in the list, not counted as active.
	list, _ := s.List(ctx, time.Time{})
	if len(list) != 1 || list[0].RevokedAt == nil {
		t.Errorf("List after revoke: %+v", list)
	}
	if n, _ := s.CountKeys(ctx); n != 0 {
		t.Errorf("CountKeys = %d, want 0", n)
	}
	// A revoked key cannot be rotated.
	if _, err := s.Rotate(ctx, "alice", time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("Rotate revoked: %v, want ErrInvalid", err)
	}
}

func testRotate(t *testing.T, newDB func(*testing.T) string) {
	ctx := context.Background()
	clk := newClock()
	s := openURL(t, newDB(t), Options{Now: clk.Now})
	orig := mustCreate(t, s, CreateParams{Name: "alice", RPM: ptr(5), Models: []string{"gpt-4o"}})

	rot, err := s.Rotate(ctx, "alice", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rot.ID != orig.ID || rot.Name != orig.Name || *rot.RPM != 5 || !reflect.DeepEqual(rot.Models, orig.Models) {
		t.Errorf("rotation changed the identity or options: %+v", rot.Key)
	}
	if rot.Secret == orig.Secret || rot.Hint != hint(rot.Secret) {
		t.Errorf("new secret/hint wrong: hint %q", rot.Hint)
	}
	if got, _ := s.Get(ctx, "alice"); got.Hint != rot.Hint {
		t.Errorf("stored hint %q, want the new one %q", got.Hint, rot.Hint)
	}
	if _, err := s.Rotate(ctx, "alice", -time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative grace: %v", err)
	}
	exp := clk.Now().Add(time.Hour)
	short := mustCreate(t, s, CreateParams{Name: "short", ExpiresAt: &exp})
	clk.Advance(2 * time.Hour)
	if _, err := s.Rotate(ctx, short.ID, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("rotate expired key: %v, want ErrInvalid", err)
	}
}

// TestSecretFormat: prefix, alphabet, length, entropy, uniqueness.
func TestSecretFormat(t *testing.T) {
	t.Parallel()
	if bits := float64(secretChars) * math.Log2(62); bits < 128 {
		t.Fatalf("secret carries %.0f bits, want >= 128", bits)
	}
	re := regexp.MustCompile(`^cpk_[0-9A-Za-z]{43}$`)
	const n = 1000
	seen := make(map[string]bool, n)
	var freq [256]int
	for range n {
		sec := newSecret()
		if !re.MatchString(sec) {
			t.Fatalf("secret %q has the wrong shape", sec)
		}
		if seen[sec] {
			t.Fatal("duplicate secret")
		}
		seen[sec] = true
		for i := len(SecretPrefix); i < len(sec); i++ {
			freq[sec[i]]++
		}
	}
	// Chi-square over the 62 symbols: 61 degrees of freedom, mean 61, sd
	// 11; 200 is about 12 sd out, so only a biased generator fails.
	expected := float64(n*secretChars) / 62
	chi := 0.0
	for _, c := range []byte(base62) {
		d := float64(freq[c]) - expected
		chi += d * d / expected
	}
	if chi > 200 {
		t.Errorf("symbol distribution is biased: chi-square %.1f", chi)
	}
	ids := make(map[string]bool, n)
	for range n {
		id := newID()
		if !isID(id) || ids[id] {
			t.Fatalf("bad or duplicate id %q", id)
		}
		ids[id] = true
	}
}

// TestOnlyHashStored: neither the secret nor any long piece of it is in the
// database files; its SHA-256 is.
func TestOnlyHashStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, name := range []string{"a", "b", "c"} {
		secrets = append(secrets, mustCreate(t, s, CreateParams{Name: name}).Secret)
	}
	rot, err := s.Rotate(ctx, "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rot.Secret)

	check := func(when string, files ...string) {
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		for _, sec := range secrets {
			body := sec[len(SecretPrefix):]
			// Any 8 consecutive characters would already be a leak (the
			// hint keeps 4).
			for i := 0; i+8 <= len(body); i++ {
				if bytes.Contains(all, []byte(body[i:i+8])) {
					t.Fatalf("%s: part of a secret found in the database files", when)
				}
			}
			h := sha256.Sum256([]byte(sec))
			if !bytes.Contains(all, h[:]) {
				t.Errorf("%s: the secret's hash is not in the files (scanning the wrong files?)", when)
			}
		}
	}
	check("open", path, path+"-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed", path, path+"-wal")
}

// TestJSONShapes: the CLI's --json and the admin API use these shapes.
func TestJSONShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openURL(t, tempDB(t), Options{})
	ck := mustCreate(t, s, CreateParams{Name: "alice", RPM: ptr(3)})
	list, err := s.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	keysOf := func(v any) []string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	has := func(got []string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("JSON lacks %q: %v", w, got)
			}
		}
	}
	common := []string{"id", "name", "hint", "created_at", "expires_at", "rpm", "tpm", "concurrency", "models", "revoked_at", "last_used"}
	created := keysOf(ck)
	has(created, append(common, "key")...)
	listed := keysOf(list[0])
	has(listed, append(common, "requests", "prompt_tokens", "completion_tokens", "errors")...)
	for _, k := range listed {
		if k == "key" {
			t.Error("listing carries the secret")
		}
	}
	// The secret is in the JSON (shown once, on purpose) but never in the
	// text forms a log might use.
	b, _ := json.Marshal(ck)
	var back struct {
		Key string `json:"key"`
	}
	_ = json.Unmarshal(b, &back)
	if back.Key != ck.Secret {
		t.Error(`JSON "key" is not the secret`)
	}
	for _, text := range []string{ck.String(), ck.GoString()} {
		if strings.Contains(text, ck.Secret) {
			t.Errorf("text form shows the secret: %q", text)
		}
	}
}
