package password

import "context"

// Acquire takes a hashing slot, so tests can fill the semaphore.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return h.release, nil
}

// SetHooks makes h call queued when a caller is about to wait for a slot,
// and hashing when one has a slot and is about to hash, so tests can stop
// callers at those points. Call it before h is used.
func SetHooks(h *Hasher, queued, hashing func()) {
	h.onQueued, h.onSlot = queued, hashing
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
