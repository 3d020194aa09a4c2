// Package mutation makes the deterministic random edits of the reference
// tests that hold a hand-written parser to the encoding/json code it
// replaced: seeds mutated byte by byte must be judged alike by both.
package mutation

import "math/rand/v2"

// Mutator edits copies of seed inputs with a seeded generator, so a failing
// case is the same on every run.
type Mutator struct {
	// Rand is the generator (rand.New(rand.NewPCG(a, b))).
	Rand *rand.Rand
	// Alphabet holds the bytes that are inserted or written: JSON syntax
	// and the key names the parser reads make the edits bite.
	Alphabet []byte
	// CutOneIn makes a cut (the input ends at a random byte) one edit in
	// CutOneIn of those drawn as cuts; 1 keeps every cut.
	CutOneIn int
}

// Mutate returns a copy of seed with one to three random edits: a byte
// replaced, inserted or deleted, or the input cut short.
func (m Mutator) Mutate(seed string) []byte {
	b := []byte(seed)
	for range 1 + m.Rand.IntN(3) {
		if len(b) == 0 {
			break
		}
		i := m.Rand.IntN(len(b))
		switch m.Rand.IntN(4) {
		case 0:
			b[i] = m.letter()
		case 1:
			b = append(b[:i], append([]byte{m.letter()}, b[i:]...)...)
		case 2:
			b = append(b[:i], b[i+1:]...)
		case 3:
			if m.CutOneIn <= 1 || m.Rand.IntN(m.CutOneIn) == 0 {
				b = b[:i]
			}
		}
	}
	return b
}

func (m Mutator) letter() byte { return m.Alphabet[m.Rand.IntN(len(m.Alphabet))] }
