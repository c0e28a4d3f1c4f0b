package blocklist

// Reload parses the embedded list again, for benchmarking the first call.
func Reload() error {
	_, err := parse(gzipped)
	return err
}
