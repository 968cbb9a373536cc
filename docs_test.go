package idctrace

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenRE marks a sample in a Markdown file: the fenced block after
//
//	<!-- golden: path -->  or  <!-- golden: path lines 3-10 -->
//
// shows that golden file (a path from the module's root), or those lines of
// it, as they are.
var goldenRE = regexp.MustCompile(`<!-- golden: (\S+)(?: lines (\d+)-(\d+))? -->\n` + "```" + `[a-z]*\n((?s).*?)` + "```\n")

// TestDocsShowTheGoldenSamples: every sample the README and docs/ mark is
// the golden file a test produces, so that no sample goes stale. With
// -update, it rewrites the samples from the golden files first.
func TestDocsShowTheGoldenSamples(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	for _, doc := range append([]string{"README.md"}, docs...) {
		text, err := os.ReadFile(doc)
		require.NoError(t, err)
		if *update { // rewrite each sample from its golden file
			text = goldenRE.ReplaceAllFunc(text, func(block []byte) []byte {
				m := goldenRE.FindSubmatchIndex(block)
				want, err := os.ReadFile(string(block[m[2]:m[3]]))
				require.NoError(t, err)
				sample := string(want)
				if m[4] >= 0 {
					sample = lineRange(t, sample, string(block[m[4]:m[5]]), string(block[m[6]:m[7]]))
				}
				return append(append(block[:m[8]:m[8]], sample...), "```\n"...)
			})
			require.NoError(t, os.WriteFile(doc, text, 0o644))
		}
		for _, m := range goldenRE.FindAllStringSubmatch(string(text), -1) {
			t.Run(doc+"/"+m[1], func(t *testing.T) {
				want, err := os.ReadFile(m[1])
				require.NoError(t, err)
				sample := string(want)
				if m[2] != "" {
					sample = lineRange(t, sample, m[2], m[3])
				}
				assert.Equal(t, sample, m[4], "%s shows %s %s", doc, m[1], strings.TrimSpace("lines "+m[2]+"-"+m[3]))
			})
		}
		if n := strings.Count(string(text), "<!-- golden:"); n != len(goldenRE.FindAllString(string(text), -1)) {
			t.Errorf("%s: %d golden marks, not all followed by a fenced block", doc, n)
		}
	}
}

// lineRange returns lines from to to of s, counted from 1, each ending in a
// line break.
func lineRange(t *testing.T, s, from, to string) string {
	t.Helper()
	a, err1 := strconv.Atoi(from)
	b, err2 := strconv.Atoi(to)
	lines := strings.SplitAfter(s, "\n")
	require.True(t, err1 == nil && err2 == nil && 1 <= a && a <= b && b <= len(lines), "lines %s-%s of %d", from, to, len(lines))
	out := strings.Join(lines[a-1:b], "")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

func TestLineRange(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "b\nc\n", lineRange(t, "a\nb\nc\nd\n", "2", "3"))
	assert.Equal(t, "d\n", lineRange(t, "a\nb\nc\nd", "4", "4"))
	m := goldenRE.FindStringSubmatch("x\n<!-- golden: testdata/golden/ticket.txt lines 1-2 -->\n```text\nA\nB\n```\n")
	require.NotNil(t, m)
	assert.Equal(t, []string{"testdata/golden/ticket.txt", "1", "2", "A\nB\n"}, m[1:])
}
