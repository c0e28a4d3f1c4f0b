package password

import "context"

// Acquire takes a hashing slot, so tests can fill the semaphore.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	return h.acquire(ctx)
}

// Cost returns the work a stored hash asks for (zeros when it does not
// parse), so fuzzing can skip hashes that would take seconds.
func Cost(hash string) (memory, time uint32, bcryptCost int) {
	if s, err := parsePHC(hash); err == nil {
		return s.params.Memory, s.params.Time, 0
	}
	if isBcrypt(hash) && checkBcrypt(hash) == nil {
		return 0, 0, int(hash[4]-'0')*10 + int(hash[5]-'0')
	}
	return 0, 0, 0
}
