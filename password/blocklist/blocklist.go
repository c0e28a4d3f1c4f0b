// Package blocklist tells whether a password is one of the most common
// ones, which attackers try first (NIST SP 800-63B §3.1.1.2, ASVS 6.2.4).
//
// The list is the 105,000 most common passwords of SecLists' "10 million
// passwords" list (MIT licence; README.md in this directory says where it
// came from and how to rebuild it). It is embedded in the binary as a
// sorted, gzipped list of about 265 KB, and read into memory (about 1.2 MB)
// the first time Contains is called.
//
// Matching ignores case and Unicode variants: the list and the password are
// both mapped to NFKC, case-folded and mapped to NFKC again, so "PassWord"
// and fullwidth "ｐａｓｓｗｏｒｄ" are on it because "password" is. Folding
// merges 3,807 of the 105,000 passwords into others (such as "Password"
// into "password"), leaving 101,193 distinct entries.
package blocklist

//go:generate go run ./internal/gen -src 10-million-password-list-top-1000000.txt -out passwords.txt.gz

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"io"
	"math"
	"sync"

	"github.com/gatehouse/gatehouse/password/internal/fold"
)

//go:embed passwords.txt.gz
var gzipped []byte

// maxEntry bounds the entries, in bytes, so that Contains can fold ASCII
// input on the stack. The longest entry today has 20; internal/gen refuses
// lists with longer ones.
const maxEntry = 64

// list is the decompressed list: entries sorted bytewise, each followed by
// '\n' in data, and starts[i] the offset of entry i, with a final
// starts[len] = len(data) so that entry i ends at starts[i+1]-1.
type list struct {
	data   []byte
	starts []uint32
	maxLen int // longest entry, in bytes
}

// load reads the embedded list once, on first use, so that programs that
// never check a password do not pay for it.
var load = sync.OnceValue(func() *list {
	l, err := parse(gzipped)
	if err != nil {
		// Only a corrupt build gets here: the tests read the same file.
		panic("blocklist: embedded list: " + err.Error())
	}
	return l
})

func parse(gz []byte) (*list, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	if uint64(len(data)) > math.MaxUint32 {
		return nil, errors.New("list larger than 4 GiB")
	}
	l := &list{data: data, starts: make([]uint32, 0, bytes.Count(data, []byte{'\n'})+1)}
	for start := 0; start < len(data); {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			return nil, io.ErrUnexpectedEOF
		}
		if end > maxEntry {
			return nil, errors.New("entry longer than maxEntry")
		}
		l.starts = append(l.starts, uint32(start)) // #nosec G115 -- start < len(data) <= MaxUint32, checked above
		l.maxLen = max(l.maxLen, end)
		start += end + 1
	}
	l.starts = append(l.starts, uint32(len(data))) // #nosec G115 -- len(data) <= MaxUint32, checked above
	return l, nil
}

// Len returns the number of distinct entries, after folding.
func Len() int {
	return len(load().starts) - 1
}

// Contains reports whether password is on the list, ignoring case and
// Unicode variants (see the package documentation). It compares the whole
// password: "password" is on the list, "my password is long" is not.
//
// Its cost is one binary search for ASCII input, which allocates nothing;
// other input is first normalized, which allocates and takes time linear
// in its length, so callers should bound the length first (password.Policy
// does).
func Contains(password string) bool {
	l := load()
	if !fold.IsASCII(password) {
		return l.search([]byte(fold.String(password)))
	}
	// Folding cannot shorten ASCII, so a long ASCII password is not on the
	// list; a short one is lower-cased on the stack.
	if len(password) > l.maxLen {
		return false
	}
	var buf [maxEntry]byte
	key := buf[:len(password)]
	for i := 0; i < len(password); i++ {
		c := password[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		key[i] = c
	}
	return l.search(key)
}

// search reports whether key is an entry, by binary search.
func (l *list) search(key []byte) bool {
	lo, hi := 0, len(l.starts)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(l.entry(mid), key); {
		case c == 0:
			return true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return false
}

func (l *list) entry(i int) []byte {
	return l.data[l.starts[i] : l.starts[i+1]-1]
}
