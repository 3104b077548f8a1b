package auth

import (
	"testing"

	"github.com/alexedwards/argon2id"
)

// The unknown-email path must cost what a real check costs: the constant
// dummy hash has to carry today's Params and be a valid hash.
func TestDummyHashMatchesParams(t *testing.T) {
	p, _, _, err := argon2id.DecodeHash(dummyHash)
	if err != nil {
		t.Fatalf("dummyHash does not decode: %v", err)
	}
	if p.Memory != Params.Memory || p.Iterations != Params.Iterations || p.Parallelism != Params.Parallelism ||
		p.SaltLength != Params.SaltLength || p.KeyLength != Params.KeyLength {
		t.Errorf("dummyHash params %+v, Params %+v: recompute it with argon2id.CreateHash(\"not-a-real-password\", Params)", *p, *Params)
	}
	if !CheckPassword("not-a-real-password", dummyHash) {
		t.Error("dummyHash is not the hash of its password")
	}
}
