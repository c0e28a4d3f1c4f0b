package redis

import goredis "github.com/redis/go-redis/v9"

// Modes of ParseURLForTest.
const (
	ModeSingle   = "single"
	ModeSentinel = "sentinel"
	ModeCluster  = "cluster"
)

// ParseURLForTest exposes the URL parsing of Open, which tests cannot
// reach a Sentinel or Cluster to check through Open itself. One of single
// and universal is set, as the mode says.
func ParseURLForTest(rawURL string) (mode string, single *goredis.Options, universal *goredis.UniversalOptions, err error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return "", nil, nil, err
	}
	return [...]string{ModeSingle, ModeSentinel, ModeCluster}[cfg.mode], cfg.single, cfg.universal, nil
}
