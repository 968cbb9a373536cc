package idctrace

import (
	"go/build"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRootImportsOnlyZapAndUUID keeps the root package's promise: the
// standard library, zap and uuid, nothing else.
func TestRootImportsOnlyZapAndUUID(t *testing.T) {
	t.Parallel()
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range pkg.Imports {
		std := !strings.Contains(strings.Split(imp, "/")[0], ".")
		allowed := std || strings.HasPrefix(imp, "go.uber.org/zap") || imp == "github.com/google/uuid" ||
			strings.HasPrefix(imp, "github.com/identitycall/idctrace/internal/")
		assert.True(t, allowed, "the root package imports %s", imp)
	}
}
