package redact

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsSecretName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"api_key", "ApiKey", "x-api-key", "key", "token", "access_token", "id_token", "secret",
		"client_secret", "password", "passwd", "signature", "sig", "Authorization", "Proxy-Authorization", "authorization",
		"X-Auth-Token", "Cookie", "Set-Cookie", "session", "_key_", strings.Repeat("x", 100) + "token"} {
		assert.True(t, IsSecretName(name), name)
	}
	for _, name := range []string{"page", "per_page", "keyboard", "monkey", "external_id", "language", "project_id",
		"Idempotency-Key", "phone_number", strings.Repeat("x", 100) + "key", ""} {
		assert.False(t, IsSecretName(name), name)
	}
}

func TestAppendSecrets(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest("GET", "https://bob:hunter%2022@h/x?token=tok123&page=2&sig=a&Api-Key=k%2Bey;secret=s3cr3t", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer opaque-oauth-token")
	req.Header["x-api-key"] = []string{"k3y-value"} // any spelling
	req.Header.Set("Proxy-Authorization", "Basic Ym9iOnByb3h5cGFzcw==")
	req.Header.Set("Cookie", "session=s3ss10n; theme=dark")
	req.Header.Set("Accept", "application/json")
	got := AppendSecrets(nil, req)
	assert.Subset(t, got, []string{"opaque-oauth-token", "k3y-value", "Ym9iOnByb3h5cGFzcw==", "proxypass", "s3ss10n", "dark",
		"hunter 22", "hunter+22", "hunter%2022", "tok123", "k%2Bey", "k+ey", "s3cr3t"})
	for _, s := range got {
		assert.GreaterOrEqual(t, len(s), MinSecretLen, "%q", s)
	}
	assert.NotContains(t, got, "application/json")
	assert.NotContains(t, got, "2")

	var stack [4]string
	assert.Empty(t, AppendSecrets(stack[:0], &http.Request{}), "a request without secrets, or URL")
}
