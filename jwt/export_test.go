package jwt

// CacheLen returns how many verified tokens s remembers; 0 without a cache.
func CacheLen(s *Strategy) int {
	if s.cache == nil {
		return 0
	}
	n := 0
	for i := range s.cache.shards {
		sh := &s.cache.shards[i]
		sh.mu.RLock()
		n += len(sh.index)
		sh.mu.RUnlock()
	}
	return n
}
