package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		r  rune
		n  int
	}{
		{"", 0, 0},
		{"a", 'a', 1},
		{"\u200bx", '\u200b', 3},
		{"\xff", '\uFFFD', 1},
		{"%5F", '_', 3},
		{"%5f", '_', 3},
		{"%255F", '_', 5},
		{"%25255fx", '_', 7},
		{"%E2%80%8Bx", '\u200b', 9},
		{"%E2%2580%8B", '\u200b', 11},
		{"%E2%80", '\uFFFD', 3}, // cut short: no character of a key
		{"%E2x", '\uFFFD', 3},
		{"%", '%', 1},
		{"%5", '%', 1},
		{"%zz", '%', 1},
		{"%25", '%', 3},
		// Any byte of a spelling percent-escaped, as net/url prints it.
		{"&%23x5f%3B", '_', 10},
		{"%26%2395%3B", '_', 11},
		{"%2526%252395%253B", '_', 17},
		{"%5Cu005f", '_', 8},
		{`\%75005f`, '_', 8},
		{"%5C%5C%5Cx5f", '_', 12},
		{"&%61mp;#95;", '_', 11},
		{"&%6Cowbar;", '_', 10},
		{`\u005f`, '_', 6},
		{`\U005F`, '_', 6},
		{`\\\u005f`, '_', 8},
		{`\x5f`, '_', 4},
		{`\u005`, 0, 0},
		{`\n`, 0, 0},
		{`\`, 0, 0},
		{"&#95;", '_', 5},
		{"&#95x", '_', 4},
		{"&#x5F;", '_', 6},
		{"&#0000095;", '_', 10},
		{"&amp;amp;#95;", '_', 13},
		{"&lowbar;", '_', 8},
		{"&UnderBar;", '_', 10},
		{"&ZeroWidthSpace;", '\u200b', 16},
		{"&zwj;", '\u200d', 5},
		{"&#99999999999999999999;", 0x110000, 23},
		{"&#;", 0, 0},
		{"&lowbar", 0, 0},
		{"&", 0, 0},
	}
	for _, tt := range tests {
		r, n := unit(tt.in)
		assert.Equal(t, tt.r, r, "%q", tt.in)
		assert.Equal(t, tt.n, n, "%q", tt.in)
	}
}
