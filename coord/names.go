package coord

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// fileName is the name of the file for a name a user or a client gave (a
// member id, "<topic>-<partition>", ...) followed by suffix. Every such
// file name must fit in NameMax and stay inside its directory, whatever
// the name holds:
//
//   - A plain name (ASCII letters, digits, '.', '_' and '-', not "." or
//     "..") that fits is used as it is, so `ls` shows it.
//   - Any other byte is written %XX, so a '/' cannot leave the directory
//     and no escaped name can be taken for a plain one.
//   - A name still too long keeps its first bytes, then '~' and 16 hex
//     digits of the SHA-256 of the whole name (no plain name has a '~').
//
// The full name is recorded inside the file, or in the file that refers to
// it (group.json for member ids), so `cat` shows what `ls` abbreviates.
// Two suffixes of the same length give the same stem.
func fileName(name, suffix string) string {
	var b strings.Builder
	if name == "." || name == ".." {
		b.WriteString(strings.Repeat("%2E", len(name)))
	} else {
		for i := 0; i < len(name); i++ {
			if c := name[i]; isPlainNameByte(c) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	stem := b.String()
	if len(stem)+len(suffix) <= NameMax {
		return stem + suffix
	}
	sum := sha256.Sum256([]byte(name))
	hash := "~" + hex.EncodeToString(sum[:8])
	keep := NameMax - len(suffix) - len(hash)
	// Do not cut an escape in half.
	if i := strings.LastIndexByte(stem[:keep], '%'); i >= 0 && i > keep-3 {
		keep = i
	}
	return stem[:keep] + hash + suffix
}

func isPlainNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
