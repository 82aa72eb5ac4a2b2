package verify

import (
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"
)

// maxMAC is the longest MAC of any algorithm here (HMAC-SHA-512).
const maxMAC = sha512.Size

// keyring holds one scheme's secrets as keyed HMACs. hmac.New costs several
// allocations and hashes the key twice, so each key has a pool of ready ones;
// with a pooled sum buffer, verifying allocates nothing. The set is replaced
// whole (atomic pointer), so a verification sees the old set or the new one,
// never a mix.
type keyring struct {
	newHash func() hash.Hash
	set     atomic.Pointer[keySet]
}

// keySet is one set of keys, never changed once built.
type keySet struct {
	pools []sync.Pool // of *macState, one pool per key
}

// macState is a keyed HMAC with the buffers a verification needs, so that
// neither escapes to the heap per call.
type macState struct {
	h   hash.Hash
	sum [maxMAC]byte
	buf [64]byte // feeds strings (ids, timestamps) to h without converting them
}

// store replaces the set with keys; the caller has checked them.
func (k *keyring) store(keys [][]byte) {
	ks := &keySet{pools: make([]sync.Pool, len(keys))}
	for i, key := range keys {
		ks.pools[i].New = func() any { return &macState{h: hmac.New(k.newHash, key)} }
	}
	k.set.Store(ks)
}

// rawKeys is the key of each secret as written, for every scheme but Standard
// Webhooks. Errors say which secret by position, never what it is.
func rawKeys(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, errNoSecret
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		if s == "" {
			return nil, secretError(i, len(secrets), "is empty")
		}
		keys[i] = []byte(s)
	}
	return keys, nil
}

// match reports whether the MAC of the signed content under any key equals any
// of wants. The content is each of pre followed by '.', then the body. Every key
// and every want is tried whatever matched, with hmac.Equal over the decoded
// bytes, so the time taken tells nothing of which secret or entry matched.
func (k *keyring) match(pre []string, body [][]byte, wants [][]byte) bool {
	ks := k.set.Load()
	ok := false
	for i := range ks.pools {
		st := ks.pools[i].Get().(*macState)
		st.h.Reset()
		for _, s := range pre {
			st.writeString(s)
			st.buf[0] = '.'
			st.h.Write(st.buf[:1])
		}
		for _, p := range body {
			st.h.Write(p)
		}
		mac := st.h.Sum(st.sum[:0])
		for _, w := range wants {
			if hmac.Equal(mac, w) {
				ok = true
			}
		}
		ks.pools[i].Put(st)
	}
	return ok
}

// writeString writes s to the HMAC through buf: []byte(s) would allocate, as the
// hash is an interface the compiler cannot see through.
func (st *macState) writeString(s string) {
	for len(s) > 0 {
		n := copy(st.buf[:], s)
		st.h.Write(st.buf[:n])
		s = s[n:]
	}
}

// sum returns the MAC of body under key, for the signers.
func sum(newHash func() hash.Hash, key []byte, pre []string, body []byte) []byte {
	h := hmac.New(newHash, key)
	for _, s := range pre {
		h.Write([]byte(s))
		h.Write([]byte{'.'})
	}
	h.Write(body)
	return h.Sum(nil)
}

var errNoSecret = errors.New("verify: no secret")

func secretError(i, n int, problem string) error {
	return errors.New("verify: secret " + strconv.Itoa(i+1) + " of " + strconv.Itoa(n) + " " + problem)
}
