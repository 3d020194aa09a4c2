package bytesize

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Size
		wantErr error
	}{
		{"10MiB", 10 << 20, nil},
		{"512KiB", 512 << 10, nil},
		{"1MB", 1000000, nil},
		{"1048576", 1 << 20, nil},
		{"2048", 2048, nil},
		{"1g", 1 << 30, nil},
		{"2GB", 2000000000, nil},
		{"4k", 4096, nil},
		{"4kb", 4000, nil},
		{"7b", 7, nil},
		{" 3 mib ", 3 << 20, nil},
		{"10 MiB", 10 << 20, nil},   // Human's form
		{"1000 bytes", 1000, nil},   // Human's form
		{"1 byte", 1, nil},          // Human's form
		{"0", 0, nil},               // zero is a size; callers decide if it is allowed
		{"+5", 5, nil},              // strconv's sign
		{"4294967296GiB", Max, nil}, // Max itself, String's form
		{"", 0, ErrSyntax},
		{"MiB", 0, ErrSyntax},
		{"-1", 0, ErrSyntax},
		{"-99999999999999999999", 0, ErrSyntax},
		{"ten", 0, ErrSyntax},
		{"1.5MiB", 0, ErrSyntax},
		{"0x10", 0, ErrSyntax},
		{"1_000", 0, ErrSyntax},
		{"10 MiB MiB", 0, ErrSyntax},
		{"10TiB", 0, ErrSyntax},
		{"99999999999999999999", 0, ErrTooLarge},
		{"4294967297GiB", 0, ErrTooLarge},
		{"4611686018427387905", 0, ErrTooLarge}, // Max+1
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The error texts are part of the command line's messages.
func TestErrorTexts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"lots", "not a size (use e.g. 10MiB, 512KiB or a number of bytes)"},
		{"9999999999GiB", "size too large"},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          Size
		flag, human string
	}{
		{10 << 20, "10MiB", "10 MiB"},
		{512 << 10, "512KiB", "512 KiB"},
		{2 << 30, "2GiB", "2 GiB"},
		{1536 << 10, "1536KiB", "1536 KiB"},
		{1 << 40, "1024GiB", "1024 GiB"},
		{1000, "1000B", "1000 bytes"},
		{1000000, "1000000B", "1000000 bytes"},
		{1, "1B", "1 byte"},
		{0, "0B", "0 bytes"},
		{-1024, "-1024B", "-1024 bytes"},
		{Max, "4294967296GiB", "4294967296 GiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.flag {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.flag)
		}
		if got := tt.in.Human(); got != tt.human {
			t.Errorf("Size(%d).Human() = %q, want %q", int64(tt.in), got, tt.human)
		}
	}
}

func TestFlagValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    Size
		wantErr string
	}{
		{"default", nil, 10 * MiB, ""},
		{"set", []string{"--max-body", "1MiB"}, MiB, ""},
		{"bad", []string{"--max-body", "lots"}, 10 * MiB, "not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			size := 10 * MiB
			fs.Var(&size, "max-body", "request body limit")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if size != tt.want {
				t.Fatalf("size = %s, want %s", size, tt.want)
			}
		})
	}
}

// The help text shows the default in the flag form.
func TestFlagDefaultInHelp(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	size := 10 * MiB
	fs.Var(&size, "max-body", "request body limit")
	fs.PrintDefaults()
	if !strings.Contains(out.String(), "(default 10MiB)") {
		t.Fatalf("help: %q", out.String())
	}
}

// FuzzParse checks that every size Parse accepts is within [0, Max] and
// that both String and Human of it parse back to the same size.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"10MiB", "512KiB", "1MB", "1048576", " 3 mib ", "1 byte", "4294967296GiB", "-1", "", "99999999999999999999", "1.5g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("Parse(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 0 || n > Max {
			t.Fatalf("Parse(%q) = %d, out of range", s, n)
		}
		for _, form := range []string{n.String(), n.Human()} {
			back, err := Parse(form)
			if err != nil || back != n {
				t.Fatalf("Parse(%q) = %d; Parse(%q) = %d, %v", s, n, form, back, err)
			}
		}
	})
}
