package redact

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Text makes untrusted text safe to print: each of secrets and the user
// info of every URL in it become REDACTED, keys are masked (see [MaskKeys]; a secret that is a key is
// masked as one, so that its last four characters tell which key it was),
// line breaks and tabs become spaces and other control characters and
// invalid UTF-8 become U+FFFD.
//
// cut reports that s may be the start of a longer text, cut off at its
// end. Then a trailing start of a secret, of [MinSecretLen] characters or
// more, becomes REDACTED too, and a key at the very end shows none of its
// characters, since either may be a longer secret cut short.
func Text(s string, secrets []string, cut bool) string {
	if len(secrets) > 1 {
		// Longest first, so that a secret holding another goes whole.
		secrets = slices.SortedFunc(slices.Values(secrets), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	}
	if cut {
		s = redactTrailingPart(s, secrets)
	}
	s = userInfo(s)
	s = secretsAndKeys(s, secrets, cut)
	if needsCleaning(s) {
		s = strings.Map(func(r rune) rune {
			switch {
			case r == '\n' || r == '\r' || r == '\t':
				return ' '
			case r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0:
				return utf8.RuneError
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		// A secret may only now show, as when it holds a space the text
		// had as a tab.
		s = replaceSecrets(s, secrets, false)
		s = replaceSecrets(s, secrets, true)
	}
	return s
}

// secretsAndKeys replaces secrets by REDACTED and masks keys. A secret that
// is a key's body (the 32 characters after "idc_") goes after the keys are
// masked, so that a key echoed whole still shows its last four characters.
func secretsAndKeys(s string, secrets []string, cut bool) string {
	s = replaceSecrets(s, secrets, false)
	s = maskKeys(s, cut)
	return replaceSecrets(s, secrets, true)
}

// replaceSecrets replaces by REDACTED every secret in s that is a key's body
// or not, as bodies says, but for keys, which MaskKeys masks.
func replaceSecrets(s string, secrets []string, bodies bool) string {
	for _, sec := range secrets {
		if len(sec) >= MinSecretLen && !IsKey(sec) && wholeKey(sec) == bodies && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// redactTrailingPart replaces the longest trailing start of a secret, of
// MinSecretLen bytes or more, by REDACTED.
func redactTrailingPart(s string, secrets []string) string {
	longest := 0
	for _, sec := range secrets {
		for n := len(sec) - 1; n >= max(MinSecretLen, longest+1); n-- {
			if strings.HasSuffix(s, sec[:n]) {
				longest = n
				break
			}
		}
	}
	if longest == 0 {
		return s
	}
	return s[:len(s)-longest] + Redacted
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}

// userInfo replaces the user info of every URL in s ("scheme://user:pass@
// host") by REDACTED: an error's text may quote a URL with its password,
// such as a Redis client's dial error.
func userInfo(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		auth := s[i+3:]
		end := strings.IndexAny(auth, "/?#\"' \t\r\n<>")
		if end < 0 {
			end = len(auth)
		}
		at := strings.LastIndex(auth[:end], "@")
		if at < 0 {
			b.WriteString(s[:i+3])
			s = auth
			continue
		}
		b.WriteString(s[:i+3] + Redacted)
		s = auth[at:]
	}
	b.WriteString(s)
	return b.String()
}
